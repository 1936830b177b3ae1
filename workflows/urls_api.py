from django.urls import path

from workflows import api

urlpatterns = [
    path("workflows", api.WorkflowListApi.as_view(), name="workflows"),
    path("workflows/runs/<id:run_id>", api.WorkflowRunDetailApi.as_view(), name="workflow_run"),
    path("workflows/runs/<id:run_id>/retry", api.WorkflowRunRetryApi.as_view(), name="workflow_run_retry"),
    path("workflows/<str:workflow_id>", api.WorkflowDetailApi.as_view(), name="workflow"),
    path("workflows/<str:workflow_id>/toggle", api.WorkflowToggleApi.as_view(), name="workflow_toggle"),
    path("workflows/<str:workflow_id>/runs", api.WorkflowRunListApi.as_view(), name="workflow_runs"),
]
