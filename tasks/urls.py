from django.urls import path

from tasks import views

urlpatterns = [
    path("flows/<slug:org>/<slug:flow>/tasks/<int:task_id>", views.task_detail, name="task_detail"),
]
