from django.urls import path

from tasks import schema_views, views

FLOW = "flows/<slug:org>/<slug:flow>"
TASK = f"{FLOW}/tasks/<id:task_id>"

urlpatterns = [
    path("notifications", views.notifications, name="notifications"),
    path(FLOW, views.flow_board, name="flow_board"),
    path(f"{FLOW}/schema", schema_views.schema_page, name="flow_schema"),
    path(f"{FLOW}/tasks/new", views.task_new, name="task_new"),
    path(TASK, views.task_detail, name="task_detail"),
    path(f"{TASK}/fields", views.task_fields, name="task_fields"),
    path(f"{TASK}/fields/<str:key>", views.task_field, name="task_field"),
    path(f"{TASK}/history", views.task_history, name="task_history"),
    path(f"{TASK}/buttons", views.task_buttons, name="task_buttons"),
    path(f"{TASK}/comments", views.task_comment, name="task_comment"),
    path(f"{TASK}/delete", views.task_delete, name="task_delete"),
]
