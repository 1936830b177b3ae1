from django.urls import path

from workflows import views

BASE = "organizations/<slug:org>/workflows"

urlpatterns = [
    path(BASE, views.workflow_list, name="workflow_list"),
    path(f"{BASE}/new", views.workflow_editor, name="workflow_new"),
    path(f"{BASE}/runs/<id:run_id>", views.workflow_run, name="workflow_run"),
    path(f"{BASE}/runs/<id:run_id>/retry", views.workflow_run_retry, name="workflow_run_retry"),
    path(f"{BASE}/<uuid:workflow_id>", views.workflow_editor, name="workflow_edit"),
    path(f"{BASE}/<uuid:workflow_id>/toggle", views.workflow_toggle, name="workflow_toggle"),
    path(f"{BASE}/<uuid:workflow_id>/delete", views.workflow_delete, name="workflow_delete"),
    path(f"{BASE}/<uuid:workflow_id>/runs", views.workflow_runs, name="workflow_runs"),
]
