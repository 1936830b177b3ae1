from django.contrib.auth import views as auth_views
from django.urls import path

from flows import views

urlpatterns = [
    path("", views.home, name="home"),
    path("signup", views.signup, name="signup"),
    path("login", auth_views.LoginView.as_view(template_name="flows/login.html"), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("settings", views.account_settings, name="account_settings"),
    path("organizations/new", views.organization_new, name="organization_new"),
    path("invitations/<str:token>", views.flow_join, name="flow_join"),
    path("flows/<slug:org>/new", views.flow_new, name="flow_new"),
    path("flows/<slug:org>/<slug:flow>/settings", views.flow_settings, name="flow_settings"),
]
