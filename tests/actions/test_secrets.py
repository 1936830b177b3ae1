"""Secret header values of API Call steps at rest: set through the Actions API or the Flow Builder,
then every table is read with raw SQL and searched for the clear value."""

import pytest

from actions.engine import run_execute
from actions.models import Run
from tests.database import database_text

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
B = "/flows/acme/sales/builder"


def test_header_secrets_set_through_the_api_are_encrypted_in_every_row(seed, api, receiver):
    client = api(seed.world.admin)
    headers = [
        {"name": "Authorization", "value": "Bearer api-door-token-1"},
        {"name": "X-Custom", "value": "api-door-custom-2", "secret": True},
    ]
    body = {"name": "Sync", "steps": [{"type": "api_call", "config": {"url": receiver.url, "headers": headers}}]}
    created = client.post("/api/flows/acme/sales/actions", body, format="json")
    assert created.status_code == 201, created.json()
    step = created.json()["steps"][0]
    step["config"]["url"] = receiver.url_for("/v2")  # an edit that sends the masks back
    assert client.put(f"/api/flows/acme/sales/actions/{created.json()['id']}", {"steps": [step]}, format="json")
    run_id = client.post(
        "/api/flows/acme/sales/executions", {"task_id": "42", "action_id": created.json()["id"]}, format="json"
    ).json()["id"]
    assert run_execute(run_id).status == Run.Status.SUCCESS
    [request] = receiver.wait_for_requests(1)
    assert request.headers["Authorization"] == "Bearer api-door-token-1"  # used in clear, stored encrypted
    rows = database_text()  # steps, versions, the run's program, its step records
    assert "api-door-token-1" not in rows and "api-door-custom-2" not in rows


def test_header_secrets_set_in_the_flow_builder_are_encrypted_in_every_row(seed, client, receiver):
    finish = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    client.force_login(seed.world.admin)
    client.get(B)
    form = {
        "type": "api_call",
        "step_key": "",
        "config.url": receiver.url,
        "config.method": "POST",
        "config.headers[0].name": "X-Api-Key",
        "config.headers[0].value": "builder-door-key-3",
        "config.headers[0].secret:bool": "1",
    }
    assert client.post(f"{B}/actions/a{finish.pk}/steps/apply", form, **HX).status_code == 200
    assert "builder-door-key-3" not in database_text()  # the draft
    assert client.post(f"{B}/save", **HX).status_code == 200
    assert finish.steps.filter(type="api_call").exists()
    assert "builder-door-key-3" not in database_text()  # the steps and the saved version
