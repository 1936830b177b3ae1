"""A stored secret header left masked ("********") is kept only while the request goes to the origin
(scheme, host, port) it was stored for: sent back with a URL on another origin, the save is refused
with an error on that header's value, through the Actions API and the Flow Builder alike; an edit of
the path on the same origin keeps the secret, and the run still sends it."""

import pytest

from actions.engine import run_execute
from actions.models import Action, Run
from actions.services import action_perform
from actions.steps.http import secret_values
from tests.receivers import Receiver

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
B = "/flows/acme/sales/builder"
SECRET = "Bearer origin-bound-8"
REFUSED = "re-enter the secret to send it to a new host"


def test_the_actions_api_keeps_a_masked_secret_only_on_its_origin(seed, api, receiver):
    client = api(seed.world.admin)
    headers = [{"name": "Authorization", "value": SECRET, "secret": True}]
    body = {"name": "Sync", "steps": [{"type": "api_call", "config": {"url": receiver.url, "headers": headers}}]}
    created = client.post("/api/flows/acme/sales/actions", body, format="json").json()
    url = f"/api/flows/acme/sales/actions/{created['id']}"
    step = created["steps"][0]
    assert step["config"]["headers"][0]["value"] == "********"

    with Receiver() as elsewhere:  # another port: another origin
        step["config"]["url"] = elsewhere.url_for("/collect")
        response = client.put(url, {"steps": [step]}, format="json")
        assert response.status_code == 400
        assert response.json()["errors"] == {"steps[0].config.headers[0].value": [REFUSED]}
        stored = Action.objects.get(pk=created["id"]).steps.get()
        assert stored.config["url"] == receiver.url, "nothing changed"

        # The secret typed again may go to the new origin.
        retyped = {
            **step,
            "config": {**step["config"], "headers": [{**headers[0], "id": step["config"]["headers"][0]["id"]}]},
        }
        assert client.put(url, {"steps": [retyped]}, format="json").status_code == 200
        assert SECRET in secret_values(Action.objects.get(pk=created["id"]).steps.get().config["headers"])

    # Back to the first origin, the path edited, the mask sent: refused too (the origin changed again).
    step["config"]["url"] = receiver.url_for("/v2")
    assert client.put(url, {"steps": [step]}, format="json").status_code == 400


def test_a_path_edit_on_the_same_origin_keeps_the_secret_through_the_api(seed, api, receiver):
    client = api(seed.world.admin)
    headers = [{"name": "Authorization", "value": SECRET, "secret": True}]
    body = {"name": "Sync", "steps": [{"type": "api_call", "config": {"url": receiver.url, "headers": headers}}]}
    created = client.post("/api/flows/acme/sales/actions", body, format="json").json()
    step = created["steps"][0]
    step["config"]["url"] = receiver.url_for("/v2?x=1")
    response = client.put(f"/api/flows/acme/sales/actions/{created['id']}", {"steps": [step]}, format="json")
    assert response.status_code == 200, response.json()
    action = Action.objects.get(pk=created["id"])
    assert (
        run_execute(action_perform(action=action, task=seed.task, actor=seed.world.admin).pk).status
        == Run.Status.SUCCESS
    )
    [request] = receiver.wait_for_requests(1)
    assert request.path.startswith("/v2") and request.headers["Authorization"] == SECRET


def test_the_flow_builder_keeps_a_masked_secret_only_on_its_origin(seed, client, receiver):
    action = seed.action(
        "Call",
        [
            {
                "type": "api_call",
                "config": {
                    "url": receiver.url,
                    "headers": [{"name": "Authorization", "value": SECRET, "secret": True}],
                },
            }
        ],
    )
    stored = action.steps.get()
    client.force_login(seed.world.admin)
    client.get(B)
    apply = f"{B}/actions/a{action.pk}/steps/apply"
    form = {
        "type": "api_call",
        "step_key": f"s{stored.pk}",
        "config.method": "POST",
        "config.headers[0].id": stored.config["headers"][0]["id"],
        "config.headers[0].name": "Authorization",
        "config.headers[0].value": "********",
        "config.headers[0].secret:bool": ["0", "1"],
    }
    with Receiver() as elsewhere:
        response = client.post(apply, {**form, "config.url": elsewhere.url_for("/collect")}, **HX)
        html = response.content.decode()
        assert 'data-error-for="config.headers[0].value"' in html and REFUSED in html
        # "Send test request" refuses it the same way: nothing goes to the new host.
        response = client.post(
            f"{B}/actions/a{action.pk}/steps/test-request", {**form, "config.url": elsewhere.url}, **HX
        )
        assert REFUSED in response.content.decode()
        assert elsewhere.requests == []

    response = client.post(apply, {**form, "config.url": receiver.url_for("/edited")}, **HX)
    assert REFUSED not in response.content.decode()
    assert client.post(f"{B}/save", **HX).status_code == 200
    config = action.steps.get().config
    assert config["url"] == receiver.url_for("/edited") and SECRET in secret_values(config["headers"])
