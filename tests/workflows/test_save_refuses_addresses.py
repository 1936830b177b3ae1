"""The webhook step refuses, when saved, a literal address the outbound policy refuses: through the
Workflows API and the workflow editor, nested in a branch too. Placeholders in the host are left to the run."""

import pytest
from django.test import Client

from tests.workflows.crm import crm  # noqa: F401  (overrides the conftest fixture)
from tests.workflows.test_api import body
from tests.workflows.test_pages import base_form, block
from workflows.models import Workflow

pytestmark = pytest.mark.django_db

METADATA = "address 169.254.169.254 is not allowed (link-local)"


def hook(url):
    return {"actionType": "webhook", "config": {"url": url, "method": "POST"}, "sortOrder": 1}


@pytest.mark.parametrize(
    "url,message",
    [
        ("http://169.254.169.254/latest/meta-data/", METADATA),
        ("http://10.0.0.5/{{trigger.id}}", "address 10.0.0.5 is not allowed (private network)"),
        (
            "http://[::ffff:169.254.169.254]/",
            "address ::ffff:a9fe:a9fe is not allowed (embeds 169.254.169.254: link-local)",
        ),
    ],
)
def test_workflows_api_refuses_a_literal_address(crm, api, settings, url, message):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    response = api(crm.world.admin).post("/api/workflows", body(actions=[hook(url)]), format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["errors"] == {"actions[0].config.url": [message]}
    assert not Workflow.objects.exists()


def test_workflows_api_refuses_it_inside_a_branch_and_accepts_names_and_placeholders(crm, api, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    branch = {
        "actionType": "branch",
        "config": {
            "logic": "AND",
            "conditions": [{"field": "Source", "operator": "equals", "value": "x"}],
            "then": [hook("http://169.254.169.254/")],
            "else": [],
        },
    }
    response = api(crm.world.admin).post("/api/workflows", body(actions=[branch]), format="json")
    assert response.status_code == 400
    assert [METADATA] in response.json()["errors"].values()
    for url in ("http://{{trigger.host}}/hook", "http://internal.example.test/hook", "https://hooks.example.com/x"):
        response = api(crm.world.admin).post("/api/workflows", body(name=url[:60], actions=[hook(url)]), format="json")
        assert response.status_code == 201, (url, response.json())


def test_workflow_editor_shows_the_refusal_next_to_the_url(crm, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    client = Client()
    client.force_login(crm.world.admin)
    form = base_form(
        **{
            "actions[0].actionType": "webhook",
            "actions[0].config.url": "http://10.0.0.5/hook",
            "actions[0].config.method": "POST",
            "actions[0].config.maxAttempts": "3",
        }
    )
    response = client.post("/organizations/acme/workflows/new", form)
    assert response.status_code == 422
    page = response.content.decode()
    assert "address 10.0.0.5 is not allowed (private network)" in page
    step = block(page, "actions[0]")
    assert step.index('name="actions[0].config.url"') < step.index("address 10.0.0.5 is not allowed")
    assert not Workflow.objects.exists()
