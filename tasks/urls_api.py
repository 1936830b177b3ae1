from django.urls import path

from tasks import api

FLOW = "flows/<slug:org>/<slug:flow>"

urlpatterns = [
    # First: a task's create is the API's busiest request (flowsite/urls.py puts this module first too).
    path(f"{FLOW}/tasks", api.TaskListApi.as_view(), name="flow_tasks"),
    path(f"{FLOW}/stages", api.StageListApi.as_view(), name="flow_stages"),
    path(f"{FLOW}/stages/<id:stage_id>", api.StageDetailApi.as_view(), name="flow_stage"),
    path(f"{FLOW}/fields", api.FieldListApi.as_view(), name="flow_fields"),
    path(f"{FLOW}/fields/<id:field_id>", api.FieldDetailApi.as_view(), name="flow_field"),
    # Before <key>: a unique key whose value is "active" cannot be addressed by its key.
    path(f"{FLOW}/tasks/active", api.TaskActiveListApi.as_view(), name="flow_tasks_active"),
    path(f"{FLOW}/tasks/<str:key>", api.TaskDetailApi.as_view(), name="flow_task"),
    path(f"{FLOW}/tasks/<str:key>/comments", api.TaskCommentListApi.as_view(), name="flow_task_comments"),
]
