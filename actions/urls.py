from django.urls import path

from actions import builder_views as b
from actions import views

FLOW = "flows/<slug:org>/<slug:flow>"
BUILDER = f"{FLOW}/builder"
ACTION = f"{BUILDER}/actions/<str:key>"

urlpatterns = [
    path(
        "flows/<slug:org>/<slug:flow>/tasks/<id:task_id>/actions/<id:action_id>/perform",
        views.action_perform,
        name="action_perform",
    ),
    path("flows/<slug:org>/<slug:flow>/runs", views.flow_runs, name="flow_runs"),
    path("flows/<slug:org>/<slug:flow>/runs/<id:run_id>", views.run_status, name="run_status"),
    path("flows/<slug:org>/<slug:flow>/runs/<id:run_id>/dismiss", views.run_dismiss, name="run_dismiss"),
    path("flows/<slug:org>/<slug:flow>/tasks/<id:task_id>/runs", views.task_runs, name="task_runs"),
    # The Flow Builder
    path(BUILDER, b.flow_builder, name="flow_builder"),
    path(f"{BUILDER}/select/<str:key>", b.builder_select, name="builder_select"),
    path(f"{BUILDER}/save", b.builder_save, name="builder_save"),
    path(f"{BUILDER}/discard", b.builder_discard, name="builder_discard"),
    path(f"{BUILDER}/actions/new", b.builder_action_new, name="builder_action_new"),
    path(ACTION, b.builder_action_update, name="builder_action_update"),
    path(f"{ACTION}/delete", b.builder_action_delete, name="builder_action_delete"),
    path(f"{ACTION}/steps/new/<str:type_name>", b.builder_step_new, name="builder_step_new"),
    path(f"{ACTION}/steps/apply", b.builder_step_apply, name="builder_step_apply"),
    path(f"{ACTION}/steps/test-request", b.builder_test_request, name="builder_test_request"),
    path(f"{ACTION}/steps/<str:step_key>", b.builder_step_edit, name="builder_step_edit"),
    path(f"{ACTION}/steps/<str:step_key>/move", b.builder_step_move, name="builder_step_move"),
    path(f"{ACTION}/steps/<str:step_key>/delete", b.builder_step_delete, name="builder_step_delete"),
    path(f"{BUILDER}/stages/new", b.builder_stage_new, name="builder_stage_new"),
    path(f"{BUILDER}/stages/<id:stage_id>", b.builder_stage_update, name="builder_stage_update"),
    path(f"{BUILDER}/stages/<id:stage_id>/move", b.builder_stage_move, name="builder_stage_move"),
    path(f"{BUILDER}/stages/<id:stage_id>/delete", b.builder_stage_delete, name="builder_stage_delete"),
    path(f"{BUILDER}/versions", b.builder_versions, name="builder_versions"),
    path(f"{BUILDER}/versions/<id:number>/restore", b.builder_version_restore, name="builder_version_restore"),
]
