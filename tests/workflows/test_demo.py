"""`make run`'s demo data: the demo_setup command (in the top app, which may import every app)."""

from io import StringIO

import pytest
from django.core.management import call_command

from actions.models import Action, Run
from flows.models import Flow, User
from tasks.models import Notification, Task
from tasks.services import task_to_json, task_update
from tests.workflows.conftest import dispatch_events, run_to_end
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


def test_demo_setup_creates_a_flow_people_can_use_and_runs_again_without_duplicates(client, settings):
    # As bin/run sets it: the demo's API Call targets Flowsite's own echo endpoint on loopback, and a
    # step aimed at an address the policy refuses cannot be saved.
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    out = StringIO()
    call_command("demo_setup", stdout=out)
    call_command("demo_setup", stdout=StringIO())

    assert "demo@example.com" in out.getvalue() and "/flows/demo/sales-pipeline" in out.getvalue()
    assert Task.objects.filter(flow__parameterized_name="sales-pipeline").count() == 3
    assert sorted(Action.objects.values_list("name", flat=True)) == ["Finish", "Start"]

    assert client.post("/login", {"username": "demo@example.com", "password": "flowsite-demo"}).status_code == 302
    html = client.get("/flows/demo/sales-pipeline").content.decode()
    assert "Acme Corp" in html and "Globex" in html and "Initech" in html
    # The board's cards show the actions' buttons (registered by actions in tasks).
    assert 'data-action="Start"' in html and 'data-action="Finish"' in html


def test_the_demo_flow_plays_tasks_and_its_workflow_fires_when_a_deal_completes(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # as bin/run: Finish calls the echo on loopback
    call_command("demo_setup", stdout=StringIO())
    flow = Flow.objects.get(parameterized_name="sales-pipeline")
    user = User.objects.get(email="demo@example.com")
    assert flow.module == "tasks"
    [workflow] = Workflow.objects.filter(organization=flow.organization)
    assert (workflow.trigger_module, workflow.trigger_type, workflow.flow_id) == ("tasks", "task_completed", flow.pk)
    assert workflow.is_active

    globex = next(t for t in Task.objects.filter(flow=flow) if task_to_json(task=t)["Company Name"] == "Globex")
    task_update(task=globex, actor=user, data={"Stage": "Completed"})
    assert dispatch_events() >= 1
    [run] = Run.objects.filter(workflow=workflow, task_ref=globex.pk)
    run = run_to_end(run)
    assert run.status == Run.Status.SUCCESS, run.errors
    globex.refresh_from_db()
    assert "won" in globex.tags
    assert Notification.objects.filter(user=user, task=globex, kind="workflow").exists()


def test_a_demo_made_before_the_workflow_gets_module_and_workflow_on_the_next_setup(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # as bin/run: Finish calls the echo on loopback
    call_command("demo_setup", stdout=StringIO())
    flow = Flow.objects.get(parameterized_name="sales-pipeline")
    Workflow.objects.all().delete()
    Flow.objects.filter(pk=flow.pk).update(module="")
    call_command("demo_setup", stdout=StringIO())
    call_command("demo_setup", stdout=StringIO())
    assert Flow.objects.get(pk=flow.pk).module == "tasks"
    assert Workflow.objects.filter(organization=flow.organization).count() == 1
