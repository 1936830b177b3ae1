"""A workflow `wait` survives a restart of the whole worker cluster (real qcluster processes)."""

import pytest

from actions.models import Run
from tasks.models import Task, TaskEvent
from tasks.services import task_create, task_to_json
from tests.actions.test_worker import Cluster
from tests.receivers import wait_until
from tests.workflows.crm import crm  # noqa: F401  (overrides the conftest fixture)
from workflows.models import Workflow, WorkflowAction

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_wait_survives_a_cluster_restart(crm):
    workflow = Workflow.objects.create(
        organization=crm.org, name="Nudge later", trigger_module="leads", trigger_type="lead_created"
    )
    WorkflowAction.objects.create(
        workflow=workflow, action_type="wait", config={"duration": 3, "unit": "seconds"}, sort_order=1
    )
    WorkflowAction.objects.create(
        workflow=workflow, action_type="move_to_stage", config={"stage": "Contacted"}, sort_order=2
    )
    first = Cluster().start()
    try:
        task = task_create(flow=crm.leads, actor=crm.world.admin, data={"Company Name": "Patient Co"})
        assert wait_until(lambda: Run.objects.filter(workflow=workflow, status=Run.Status.WAITING).exists(), 30)
    finally:
        first.kill()
    run = Run.objects.get(workflow=workflow)
    wake_at = run.wake_at
    assert wake_at is not None
    second = Cluster().start()
    try:
        assert wait_until(lambda: Run.objects.get(pk=run.pk).is_finished, 60)
    finally:
        second.stop()
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCESS, run.errors
    assert run.finished_at >= wake_at
    assert task_to_json(task=Task.objects.get(pk=task.pk))["Stage"] == "Contacted"
    assert [s.status for s in run.step_runs.order_by("id")] == ["success", "success"]


def test_a_task_created_over_the_api_gets_its_workflow_run_by_the_worker(crm, api):
    """`make run`'s path: the write only rings; the real worker dispatches the event and runs the run."""
    client = api(crm.world.admin)
    response = client.post(
        "/api/workflows",
        {
            "name": "Qualify",
            "triggerModule": "leads",
            "triggerType": "lead_created",
            "actions": [{"actionType": "move_to_stage", "config": {"stage": "Contacted"}}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    workers = Cluster().start()
    try:
        created = client.post(f"/api/flows/acme/{crm.leads.parameterized_name}/tasks", {}, format="json")
        assert created.status_code == 201, created.json()
        task_id = created.json()["id"]
        assert wait_until(lambda: Run.objects.filter(task_id=task_id, status=Run.Status.SUCCESS).exists(), 60)
    finally:
        workers.stop()
    [run] = Run.objects.filter(workflow_id=response.json()["id"])
    assert run.task_id == task_id
    assert TaskEvent.objects.get(task_id=task_id, kind="created").dispatched_at is not None
    assert client.get(f"/api/flows/acme/{crm.leads.parameterized_name}/tasks/{task_id}").json()["Stage"] == "Contacted"
