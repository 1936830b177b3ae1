from django.urls import path

from actions import api

urlpatterns = [
    path("flows/<slug:org>/<slug:flow>/actions", api.ActionListApi.as_view(), name="actions"),
    path("flows/<slug:org>/<slug:flow>/actions/<id:action_id>", api.ActionDetailApi.as_view(), name="action"),
    path("flows/<slug:org>/<slug:flow>/tasks/<str:key>/actions", api.TaskActionsApi.as_view(), name="task_actions"),
    path("flows/<slug:org>/<slug:flow>/executions", api.ExecutionListApi.as_view(), name="executions"),
    path("flows/<slug:org>/<slug:flow>/executions/<id:run_id>", api.ExecutionDetailApi.as_view(), name="execution"),
]
