"""A failed workflow run tells the workflow's owner, as a failed action tells its performer, and the
workflow's page shows the failure."""

import re

import pytest
from django.test import Client

from actions.engine import run_execute
from actions.models import Run
from flows.models import OrganizationMembership
from tasks.models import Notification
from tests.receivers import Receiver
from tests.workflows.crm import crm  # noqa: F401  (overrides the conftest fixture)
from tests.workflows.test_pages_runs import start, webhook_workflow
from workflows import services

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def failing_receiver():
    with Receiver() as receiver:
        receiver.set_response(status=500, body=b"the CRM is down")
        yield receiver


def test_a_failed_run_notifies_the_owner_and_shows_on_the_workflow_page(crm, failing_receiver):
    workflow = webhook_workflow(crm, failing_receiver.url)
    run = run_execute(start(crm, workflow).pk)
    assert run.status == Run.Status.FAIL

    note = Notification.objects.get(user=crm.world.admin, kind="workflow_failed")
    assert note.url == f"/organizations/acme/workflows/runs/{run.pk}"
    assert "Notify the CRM" in note.message and "failed" in note.message and "500" in note.message
    # Nobody else: a workflow run has no performer, and other members did not create the workflow.
    assert Notification.objects.filter(kind__in=["workflow_failed", "action_failed"]).count() == 1

    owner = client_for(crm.world.admin)
    page = owner.get("/notifications").content.decode()
    assert ">Workflow failed</span>" in page and ">workflow_failed<" not in page
    assert f'href="{note.url}"' in page
    assert owner.get(note.url).status_code == 200

    editor = owner.get(f"/organizations/acme/workflows/{workflow.pk}").content.decode()
    banner = re.search(r'id="workflow-failures".*?</div>', editor, re.S).group(0)
    assert "1 run failed" in banner and f"run #{run.pk}" in banner and "500" in banner
    assert "?status=fail" in banner
    # A member who may read the flow sees it too; the page is not only for the owner.
    assert (
        'id="workflow-failures"'
        in client_for(crm.world.member).get(f"/organizations/acme/workflows/{workflow.pk}").content.decode()
    )


def test_a_successful_run_notifies_nobody_and_shows_no_failure(crm):
    with Receiver() as receiver:
        workflow = webhook_workflow(crm, receiver.url)
        assert run_execute(start(crm, workflow).pk).status == Run.Status.SUCCESS
    assert not Notification.objects.exists()
    editor = client_for(crm.world.admin).get(f"/organizations/acme/workflows/{workflow.pk}").content.decode()
    assert 'id="workflow-failures"' not in editor


def test_an_owner_who_may_no_longer_read_the_flow_is_not_told(crm, failing_receiver):
    workflow = webhook_workflow(crm, failing_receiver.url)
    # The owner stops being an organization admin and was never a member of the leads flow.
    OrganizationMembership.objects.filter(user=crm.world.admin).update(admin=False)
    crm.leads.memberships.filter(user=crm.world.admin).delete()
    run = run_execute(start(crm, workflow).pk)
    assert run.status == Run.Status.FAIL
    assert not Notification.objects.filter(kind="workflow_failed").exists()
    assert services.workflow_run_failure_notify(run=run, error="x") is None
