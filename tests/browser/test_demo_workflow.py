"""`make run`'s demo in the browser: Finish on a deal, then the demo workflow visibly tags it and
tells its owner; the workflow editor shows the demo flow under "In flow" and names a flow that has
no module (whose events start no workflow)."""

from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from actions.models import Run
from flows.models import Flow, User
from flows.services import flow_create
from tasks.models import Task
from tasks.services import task_to_json
from tests.browser.conftest import screenshot
from tests.browser.test_runs_live import in_thread, wait_for_run
from tests.workflows.conftest import dispatch_events, run_to_end
from workflows.models import Workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_demo_workflow_fires_when_finish_completes_a_deal(page, login, receiver, settings, monkeypatch):
    # Finish's API Call goes to the demo echo endpoint; here a loopback receiver stands in for it.
    monkeypatch.setenv("DEMO_BASE_URL", receiver.url.rstrip("/"))
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    receiver.set_response(status=200, body=b"{}", headers={"Content-Type": "application/json"})
    call_command("demo_setup", stdout=StringIO())
    flow = Flow.objects.get(parameterized_name="sales-pipeline")
    user = User.objects.get(email="demo@example.com")
    globex = next(t for t in Task.objects.filter(flow=flow) if task_to_json(task=t)["Company Name"] == "Globex")

    login(user)
    page.goto(f"/flows/demo/sales-pipeline/tasks/{globex.pk}")
    page.locator("#task-actions").get_by_role("button", name="Finish").click()
    in_thread(wait_for_run().pk).join(30)
    expect(page.locator(".run-status.success")).to_contain_text("Finish done.", timeout=15_000)
    expect(page.locator("#task-crumbs")).to_contain_text("/ Completed")

    # The worker would now dispatch the task's events to the workflows and run what they start.
    dispatch_events()
    [run] = Run.objects.filter(kind=Run.Kind.WORKFLOW, task_ref=globex.pk)
    assert run_to_end(run).status == Run.Status.SUCCESS
    page.reload()
    expect(page.locator("#row-tags")).to_contain_text("won")
    expect(page.locator("#notifications-badge")).to_have_text("1")
    screenshot(page, "demo-workflow-fired")
    page.locator(".notifications-link").click()
    expect(page.locator(".notification").first).to_contain_text("the demo workflow tagged it won")


def test_the_editor_shows_the_demo_flow_and_names_flows_without_a_module(page, login, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # as bin/run: Finish calls the echo on loopback
    call_command("demo_setup", stdout=StringIO())
    user = User.objects.get(email="demo@example.com")
    demo = Flow.objects.get(parameterized_name="sales-pipeline")
    flow_create(user=user, organization=demo.organization, name="Scratch")
    workflow = Workflow.objects.get(organization=demo.organization)

    login(user)
    page.goto(f"/organizations/demo/workflows/{workflow.pk}")
    expect(page.locator("select[name=flowId] option:checked")).to_have_text("Sales Pipeline")
    note = page.locator("#flows-without-module")
    expect(note).to_contain_text("Workflows never run for Scratch: it has no module.")
    expect(note.get_by_role("link", name="Scratch")).to_have_attribute("href", "/flows/demo/scratch/settings")
    screenshot(page, "workflow-editor-demo", full_page=True)
