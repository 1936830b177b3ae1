"""Secret header values of webhook actions at rest, top-level and nested in branches: set through
the Workflows API or the workflow editor, then every table is read with raw SQL and searched for
the clear value."""

import re

import pytest

from tests.database import database_text
from tests.workflows.crm import crm  # noqa: F401  (overrides the conftest fixture)
from tests.workflows.test_pages import client_for, full_form
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


def webhook(secret: str) -> dict:
    headers = [{"name": "X-Hook-Key", "value": secret, "secret": True}]
    return {"actionType": "webhook", "config": {"url": "https://hooks.example.com/x", "headers": headers}}


def test_webhook_secrets_set_through_the_api_incl_nested_branch_actions_are_encrypted(crm, api):
    branch = {
        "actionType": "branch",
        "config": {
            "logic": "AND",
            "conditions": [{"field": "Source", "operator": "equals", "value": "website"}],
            "then": [webhook("api-nested-then-4")],
            "else": [webhook("api-nested-else-5")],
        },
    }
    body = {
        "name": "Hooks",
        "triggerModule": "leads",
        "triggerType": "lead_created",
        "isActive": False,
        "actions": [webhook("api-top-level-6"), branch],
    }
    client = api(crm.world.admin)
    response = client.post("/api/workflows", body, format="json")
    assert response.status_code == 201, response.json()
    answer = response.content.decode()
    secrets = ["api-nested-then-4", "api-nested-else-5", "api-top-level-6"]
    assert not any(secret in answer for secret in secrets)
    # A resave with the masks the API answered keeps the secrets and writes a new version.
    saved = response.json()
    put = client.put(f"/api/workflows/{saved['id']}", {"actions": saved["actions"]}, format="json")
    assert put.status_code == 200, put.json()
    rows = database_text()
    assert not any(secret in rows for secret in secrets)
    branch_config = Workflow.objects.get(pk=saved["id"]).actions.get(action_type="branch").config
    assert branch_config["then"][0]["config"]["headers"][0]["value"].startswith("enc:")


def test_webhook_secrets_set_in_the_editor_incl_nested_branch_actions_are_encrypted(crm):
    form = full_form(crm)
    form.update(
        {
            "actions[0].config.then[2].actionType": "webhook",
            "actions[0].config.then[2].config.url": "https://hooks.example.com/nested",
            "actions[0].config.then[2].config.method": "POST",
            "actions[0].config.then[2].config.headers[0].name": "X-Nested-Key",
            "actions[0].config.then[2].config.headers[0].value": "editor-nested-7",
            "actions[0].config.then[2].config.headers[0].secret:bool": ["0", "1"],
        }
    )
    response = client_for(crm.world.admin).post("/organizations/acme/workflows/new", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    workflow = Workflow.objects.get(name="Route web leads")
    nested = workflow.actions.get(action_type="branch").config["then"][2]
    assert nested["actionType"] == "webhook" and nested["config"]["headers"][0]["secret"] is True
    rows = database_text()
    assert "top-secret-token" not in rows and "editor-nested-7" not in rows


def test_nested_secrets_left_masked_follow_their_action_by_id_not_by_place(crm, api):
    def hook(action_id: str, value: str) -> dict:
        return {"id": action_id, **webhook(value)}

    body = {
        "name": "Hooks",
        "triggerModule": "leads",
        "triggerType": "lead_created",
        "isActive": False,
        "actions": [
            {
                "actionType": "branch",
                "config": {
                    "logic": "AND",
                    "conditions": [{"field": "Source", "operator": "equals", "value": "website"}],
                    "then": [hook("first", "secret-of-first"), hook("second", "secret-of-second")],
                    "else": [],
                },
            }
        ],
    }
    client = api(crm.world.admin)
    created = client.post("/api/workflows", body, format="json").json()
    # Send the two back swapped, each with its secret masked as the API shows it.
    branch = created["actions"][0]
    branch["config"]["then"].reverse()
    response = client.put(f"/api/workflows/{created['id']}", {**body, "actions": [branch]}, format="json")
    assert response.status_code == 200, response.json()
    from actions.steps.http import secret_values

    then = Workflow.objects.get(pk=created["id"]).actions.get().config["then"]
    assert [item["id"] for item in then] == ["second", "first"]
    assert "secret-of-second" in secret_values(then[0]["config"]["headers"])
    assert "secret-of-first" in secret_values(then[1]["config"]["headers"])


REFUSED = "re-enter the secret to send it to a new host"


def test_a_masked_secret_is_kept_only_on_its_origin_through_the_workflows_api(crm, api):
    client = api(crm.world.admin)
    body = {"name": "Hook", "triggerModule": "leads", "triggerType": "lead_created", "actions": [webhook("origin-9")]}
    created = client.post("/api/workflows", body, format="json").json()
    action = created["actions"][0]
    action["config"]["url"] = "https://collector.example.net/x"  # another host, the mask sent back
    response = client.put(f"/api/workflows/{created['id']}", {"actions": [action]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"actions[0].config.headers[0].value": [REFUSED]}
    assert Workflow.objects.get(pk=created["id"]).version == 1, "nothing changed"
    for other in ("http://hooks.example.com/x", "https://hooks.example.com:8443/x"):  # scheme, port
        action["config"]["url"] = other
        assert client.put(f"/api/workflows/{created['id']}", {"actions": [action]}, format="json").status_code == 400

    action["config"]["url"] = "https://hooks.example.com:443/y?z=1"  # the same origin, another path
    response = client.put(f"/api/workflows/{created['id']}", {"actions": [action]}, format="json")
    assert response.status_code == 200, response.json()
    from actions.steps.http import secret_values

    config = Workflow.objects.get(pk=created["id"]).actions.get().config
    assert config["url"] == "https://hooks.example.com:443/y?z=1" and "origin-9" in secret_values(config["headers"])


def test_a_masked_secret_is_kept_only_on_its_origin_in_the_workflow_editor(crm, api):
    client = api(crm.world.admin)
    body = {"name": "Hook", "triggerModule": "leads", "triggerType": "lead_created", "actions": [webhook("origin-10")]}
    created = client.post("/api/workflows", body, format="json").json()
    editor = client_for(crm.world.admin)
    url = f"/organizations/acme/workflows/{created['id']}"
    page = editor.get(url).content.decode()
    header_id = created["actions"][0]["config"]["headers"][0]["id"]
    assert f'name="actions[0].config.headers[0].id" value="{header_id}"' in page
    form = {
        "name": "Hook",
        "triggerModule": "leads",
        "triggerType": "lead_created",
        "isActive:bool": "0",
        "actions[0].id": created["actions"][0]["id"],
        "actions[0].actionType": "webhook",
        "actions[0].config.method": "POST",
        "actions[0].config.headers[0].id": header_id,
        "actions[0].config.headers[0].name": "X-Hook-Key",
        "actions[0].config.headers[0].value": "********",
        "actions[0].config.headers[0].secret:bool": ["0", "1"],
    }
    response = editor.post(url, {**form, "actions[0].config.url": "https://collector.example.net/x"})
    assert response.status_code == 422 and REFUSED in response.content.decode()
    # Next to the header's value input, which is marked invalid.
    value_input = re.search(r'<input name="actions\[0\]\.config\.headers\[0\]\.value"[^>]*>', response.content.decode())
    assert value_input and 'aria-invalid="true"' in value_input.group(0)
    assert Workflow.objects.get(pk=created["id"]).version == 1

    response = editor.post(url, {**form, "actions[0].config.url": "https://hooks.example.com/edited"})
    assert response.status_code == 302, response.content.decode()[:2000]
    from actions.steps.http import secret_values

    config = Workflow.objects.get(pk=created["id"]).actions.get().config
    assert config["url"] == "https://hooks.example.com/edited" and "origin-10" in secret_values(config["headers"])
