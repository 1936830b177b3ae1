from django.urls import path

from actions import views

urlpatterns = [
    path(
        "flows/<slug:org>/<slug:flow>/tasks/<int:task_id>/actions/<int:action_id>/perform",
        views.action_perform,
        name="action_perform",
    ),
    path("flows/<slug:org>/<slug:flow>/runs/<int:run_id>", views.run_status, name="run_status"),
]
