"""Run history pages: the paginated, filterable list, the run detail with its steps (secrets never
shown), and retrying a failed run from the browser."""

import re

import pytest
from django.test import Client

from actions.engine import run_create, run_execute
from actions.models import Run
from tasks.identity import task_identity
from tasks.services import task_create
from tests.receivers import Receiver
from tests.workflows.crm import crm  # noqa: F401  (overrides the conftest fixture)
from workflows import services
from workflows.dispatch import program_for

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
SECRET = "Bearer s3cr3t-t0ken-value"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def webhook_workflow(crm, url: str):
    # Inactive, so creating the task below starts no run of its own.
    return services.workflow_create(
        user=crm.world.admin,
        data={
            "organization": "acme",
            "name": "Notify the CRM",
            "triggerModule": "leads",
            "triggerType": "lead_created",
            "flowId": crm.leads.pk,
            "isActive": False,
            "actions": [
                {"actionType": "add_tag", "config": {"tag": "seen"}},
                {
                    "actionType": "webhook",
                    "config": {
                        "url": url,
                        "headers": [{"name": "Authorization", "value": SECRET, "secret": True}],
                        "maxAttempts": 1,
                    },
                },
            ],
        },
    )


def start(crm, workflow, task=None) -> Run:
    task = task or task_create(flow=crm.leads, actor=crm.world.admin, data={"Company Name": "Acme Corp"})
    return run_create(
        kind=Run.Kind.WORKFLOW,
        flow=crm.leads,
        task=task,
        name=workflow.name,
        program=program_for(workflow),
        version=workflow.version,
        workflow=workflow,
        context={"event": {"id": 1, "kind": "created", "type": "lead_created"}},
    )


def test_run_history_pagination_and_status_filter(crm):
    workflow = webhook_workflow(crm, "https://hooks.example.com/x")
    task = task_create(flow=crm.leads, actor=crm.world.admin, data={"Company Name": "Acme Corp"})
    runs = [start(crm, workflow, task) for _ in range(23)]
    Run.objects.filter(pk__in=[r.pk for r in runs[:3]]).update(status=Run.Status.FAIL)
    Run.objects.filter(pk__in=[r.pk for r in runs[3:5]]).update(status=Run.Status.SUCCESS)
    url = f"/organizations/acme/workflows/{workflow.pk}/runs"
    member = client_for(crm.world.member)

    page1 = member.get(url).content.decode()
    assert page1.count('class="run-row"') == 20
    assert f">#{runs[-1].pk}</a>" in page1 and f">#{runs[2].pk}</a>" not in page1  # newest first
    assert "Page 1 of 2" in page1 and "When a lead is created" in page1 and "v1" in page1
    # The record is named as everywhere else (tasks.identity), not "Leads #<id>".
    assert f">{crm.leads.name} · {task_identity(task)}</a>" in page1 and f"{crm.leads.name} #" not in page1
    assert f"/flows/acme/{crm.leads.parameterized_name}/tasks/{task.pk}" in page1
    page2 = member.get(url + "?page=2").content.decode()
    assert page2.count('class="run-row"') == 3 and f">#{runs[0].pk}</a>" in page2

    failed = member.get(url + "?status=fail", HTTP_HX_TARGET="runs", **HX)
    html = failed.content.decode()
    assert "<html" not in html and html.lstrip().startswith('<div id="runs">')
    assert html.count('class="run-row"') == 3 and set(re.findall(r'data-status="(\w+)"', html)) == {"fail"}
    assert html.count('class="run-row"') == 3
    success = member.get(url + "?status=success").content.decode()
    assert success.count('class="run-row" data-status="success"') == 2
    assert member.get(url + "?status=bogus").content.decode().count('class="run-row"') == 20

    assert client_for(crm.world.outsider).get(url).status_code == 404
    assert client_for(crm.world.outsider).get(f"/organizations/acme/workflows/runs/{runs[0].pk}").status_code == 404


def test_run_detail_and_retry_from_the_failed_step(crm):
    with Receiver() as receiver:
        receiver.set_response(status=500, body=b'{"error": "down"}', headers={"Content-Type": "application/json"})
        workflow = webhook_workflow(crm, receiver.url_for("/hook"))
        run = run_execute(start(crm, workflow).pk)
        assert run.status == Run.Status.FAIL
        [request] = receiver.wait_for_requests(1)
        assert request.headers["Authorization"] == SECRET  # the receiver got it; the pages must not show it

        detail_url = f"/organizations/acme/workflows/runs/{run.pk}"
        member_page = client_for(crm.world.member).get(detail_url)
        assert member_page.status_code == 200
        html = member_page.content.decode()
        assert "<strong>Add tag</strong>" in html and "<strong>Webhook</strong>" in html
        assert "Step 2</span>" in html and ">Failed</span>" in html and "the receiver answered 500" in html
        # Each step says what it was set to do: the webhook its method, whole host and path.
        assert '<span class="step-summary">Tag seen</span>' in html
        assert f'<span class="step-summary">POST {receiver.netloc}/hook · 1 header</span>' in html
        assert "<pre" in html and "&quot;method&quot;: &quot;POST&quot;" in html  # pretty, escaped JSON
        assert "s3cr3t-t0ken-value" not in html
        assert "Retry from the failed step" not in html
        assert client_for(crm.world.member).post(detail_url + "/retry").status_code == 403

        admin = client_for(crm.world.admin)
        html = admin.get(detail_url).content.decode()
        assert "Retry from the failed step" in html and "s3cr3t-t0ken-value" not in html
        response = admin.post(detail_url + "/retry")
        assert response.status_code == 302 and response["Location"] == detail_url
        run.refresh_from_db()
        assert run.status == Run.Status.PENDING
        html = admin.get(detail_url).content.decode()
        assert 'id="run-status">Queued<' in html and "Retry from the failed step" not in html

        receiver.set_response(status=200, body=b'{"ok": true}', headers={"Content-Type": "application/json"})
        run = run_execute(run.pk)
        assert run.status == Run.Status.SUCCESS
        html = admin.get(detail_url).content.decode()
        assert 'id="run-status">Succeeded<' in html and "s3cr3t-t0ken-value" not in html
        runs_page = admin.get(f"/organizations/acme/workflows/{workflow.pk}/runs").content.decode()
        assert 'data-status="success"' in runs_page
        listing = admin.get("/organizations/acme/workflows").content.decode()
        assert "status-pill success" in listing


def test_retry_of_a_run_that_did_not_fail_is_refused_politely(crm):
    workflow = webhook_workflow(crm, "https://hooks.example.com/x")
    run = start(crm, workflow)
    response = client_for(crm.world.admin).post(f"/organizations/acme/workflows/runs/{run.pk}/retry", follow=True)
    assert response.status_code == 200 and "Only failed runs can be retried." in response.content.decode()
    run.refresh_from_db()
    assert run.status == Run.Status.PENDING
