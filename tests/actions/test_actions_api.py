import pytest

from actions.engine import run_execute
from actions.models import Action, Run
from tests.factories import add_flow_member

pytestmark = pytest.mark.django_db

BASE = "/api/flows/acme/sales"


def api_call(url="https://api.example.com/hook", **extra):
    return {"type": "api_call", "config": {"url": url, **extra}}


def test_create_and_read_action(seed, api):
    body = {
        "name": "Finish",
        "color": "#16a34a",
        "from_stages": ["In Progress"],
        "navigate": "board",
        "steps": [
            {"type": "move_to_stage", "config": {"stage": "Completed"}},
            api_call(headers=[{"name": "Authorization", "value": "Bearer abc123456"}]),
        ],
    }
    response = api(seed.world.admin).post(f"{BASE}/actions", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["name"] == "Finish" and data["color"] == "#16a34a" and data["navigate"] == "board"
    assert data["from_stages"] == ["In Progress"]
    assert [s["type"] for s in data["steps"]] == ["move_to_stage", "api_call"]
    api_step = data["steps"][1]
    assert api_step["config"]["method"] == "POST"
    header_id = api_step["config"]["headers"][0].get("id")
    assert header_id, "each stored header row gets a stable id"
    assert api_step["config"]["headers"] == [
        {"id": header_id, "name": "Authorization", "value": "********", "secret": True}
    ]
    assert api(seed.world.flow_member).get(f"{BASE}/actions/{data['id']}").json() == data
    assert [a["name"] for a in api(seed.world.flow_member).get(f"{BASE}/actions").json()] == ["Finish"]


def test_update_keeps_masked_secret(seed, api, receiver):
    admin = api(seed.world.admin)
    created = admin.post(
        f"{BASE}/actions",
        {"name": "Go", "steps": [api_call(receiver.url, headers={"Authorization": "Bearer keep-me-123"})]},
        format="json",
    ).json()
    step = created["steps"][0]
    step["config"]["url"] = receiver.url_for("/v2")
    response = admin.put(f"{BASE}/actions/{created['id']}", {"steps": [step]}, format="json")
    assert response.status_code == 200
    run = run_execute(
        admin.post(f"{BASE}/executions", {"task_id": "42", "action_id": created["id"]}, format="json").json()["id"]
    )
    assert run.status == Run.Status.SUCCESS
    assert receiver.requests[0].headers["Authorization"] == "Bearer keep-me-123"
    assert receiver.requests[0].path == "/v2"


def test_masked_secret_is_matched_by_its_row_id_not_its_name_or_place(seed, api, receiver):
    admin = api(seed.world.admin)
    headers = [
        {"name": "Authorization", "value": "Bearer first-111", "secret": True},
        {"name": "X-Second", "value": "second-222", "secret": True},
    ]
    created = admin.post(
        f"{BASE}/actions", {"name": "Go", "steps": [api_call(receiver.url, headers=headers)]}, format="json"
    )
    assert created.status_code == 201, created.json()
    step = created.json()["steps"][0]
    first, second = step["config"]["headers"]
    assert first["value"] == second["value"] == "********" and first["id"] != second["id"]
    # Swapped and the second renamed, both left masked: each keeps its own stored secret.
    step["config"]["headers"] = [{**second, "name": "X-Renamed"}, first]
    response = admin.put(f"{BASE}/actions/{created.json()['id']}", {"steps": [step]}, format="json")
    assert response.status_code == 200, response.json()
    assert [h["id"] for h in response.json()["steps"][0]["config"]["headers"]] == [second["id"], first["id"]]
    run = run_execute(
        admin.post(f"{BASE}/executions", {"task_id": "42", "action_id": created.json()["id"]}, format="json").json()[
            "id"
        ]
    )
    assert run.status == Run.Status.SUCCESS, run.errors
    assert receiver.requests[0].headers["Authorization"] == "Bearer first-111"
    assert receiver.requests[0].headers["X-Renamed"] == "second-222"

    # A masked value whose id names no stored row is refused, even when a stored row has its name.
    step["config"]["headers"] = [{**first, "id": "not-stored"}]
    response = admin.put(f"{BASE}/actions/{created.json()['id']}", {"steps": [step]}, format="json")
    assert response.status_code == 400
    assert "steps[0].config.headers[0].value" in response.json()["errors"], response.json()


@pytest.mark.parametrize(
    "body,key",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "A", "color": "red"}, "color"),
        ({"name": "A", "navigate": "elsewhere"}, "navigate"),
        ({"name": "A", "from_stages": ["Nope"]}, "from_stages"),
        ({"name": "A", "steps": [{"type": "teleport", "config": {}}]}, "steps[0].type"),
        ({"name": "A", "steps": [{"type": "api_call", "config": {}}]}, "steps[0].config.url"),
        ({"name": "A", "steps": [{"type": "api_call", "config": {"url": "ftp://x"}}]}, "steps[0].config.url"),
        ({"name": "A", "steps": [api_call(method="BREW")]}, "steps[0].config.method"),
        (
            {"name": "A", "steps": [api_call(headers={"X-Bad": "a\r\nInjected: 1"})]},
            "steps[0].config.headers[0]",
        ),
        (
            {"name": "A", "steps": [api_call(), {"type": "move_to_stage", "config": {"stage": "Mars"}}]},
            "steps[1].config.stage",
        ),
        (
            {"name": "A", "steps": [{"type": "update_data", "config": {"values": {"Number of Employees": "x"}}}]},
            "steps[0].config.values.Number of Employees",
        ),
        (
            {"name": "A", "steps": [{"type": "assign_to", "config": {"email": "outsider@example.com"}}]},
            "steps[0].config.email",
        ),
        (
            {"name": "A", "steps": [{"type": "schedule_stage_change", "config": {"stage": "Completed", "days": -1}}]},
            "steps[0].config.days",
        ),
        (
            {
                "name": "A",
                "steps": [
                    {"type": "email_notification", "config": {"recipients": ["nope"], "subject": "s", "body": "b"}}
                ],
            },
            "steps[0].config.recipients",
        ),
        ({"name": "A", "steps": "api_call"}, "steps"),
        ({"name": "A", "bogus": 1}, "bogus"),
    ],
)
def test_invalid_actions_are_400_naming_step_and_field(seed, api, body, key):
    response = api(seed.world.admin).post(f"{BASE}/actions", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "Validation error"
    assert key in response.json()["errors"], response.json()
    assert not Action.objects.exists()


def test_duplicate_action_name(seed, api):
    admin = api(seed.world.admin)
    assert admin.post(f"{BASE}/actions", {"name": "Start", "steps": []}, format="json").status_code == 201
    assert admin.post(f"{BASE}/actions", {"name": "start", "steps": []}, format="json").status_code == 400


def test_design_access(seed, api):
    body = {"name": "Start", "steps": [{"type": "move_to_stage", "config": {"stage": "In Progress"}}]}
    assert api(seed.world.flow_member).post(f"{BASE}/actions", body, format="json").status_code == 403
    assert api(seed.world.member).get(f"{BASE}/actions").status_code == 404
    assert api(seed.world.outsider).post(f"{BASE}/actions", body, format="json").status_code == 404
    seed.flow.memberships.filter(user=seed.world.flow_member).update(can_edit=True)
    created = api(seed.world.flow_member).post(f"{BASE}/actions", body, format="json")
    assert created.status_code == 201
    action_id = created.json()["id"]
    add_flow_member(seed.flow, seed.world.member)
    assert api(seed.world.member).delete(f"{BASE}/actions/{action_id}").status_code == 403
    assert api(seed.world.admin).delete(f"{BASE}/actions/{action_id}").status_code == 204
    assert api(seed.world.admin).get(f"{BASE}/actions/{action_id}").status_code == 404


def test_available_actions_follow_the_stage(seed, api):
    start = seed.action("Start", [{"type": "move_to_stage", "config": {"stage": "In Progress"}}], ["Not Started"])
    finish = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}], ["In Progress"])
    anywhere = seed.action("Note", [{"type": "update_data", "config": {"values": {"Company Name": "X"}}}], [])
    data = api(seed.world.flow_member).get(f"{BASE}/tasks/42/actions").json()
    assert data == [{"id": finish.pk, "name": "Finish"}, {"id": anywhere.pk, "name": "Note"}]
    assert start.pk not in [a["id"] for a in data]
    assert api(seed.world.outsider).get(f"{BASE}/tasks/42/actions").status_code == 404
    assert api(seed.world.flow_member).get(f"{BASE}/tasks/999/actions").status_code == 404


def test_execution_lifecycle(seed, api, receiver):
    finish = seed.action(
        "Finish",
        [
            {"type": "move_to_stage", "config": {"stage": "Completed"}},
            {"type": "api_call", "config": {"url": receiver.url}},
        ],
    )
    client = api(seed.world.flow_member)
    response = client.post(f"{BASE}/executions", {"task_id": "42", "action_id": finish.pk}, format="json")
    assert response.status_code == 201
    run_id = response.json()["id"]
    assert response.json() == {"id": run_id, "status": "Pending"}
    assert client.get(f"{BASE}/executions/{run_id}").json()["status"] == "Pending"
    run_execute(run_id)
    data = client.get(f"{BASE}/executions/{run_id}").json()
    assert data["status"] == "Success" and "errors" not in data
    assert data["performed_by"] == "flowie@example.com"
    assert api(seed.world.outsider).get(f"{BASE}/executions/{run_id}").status_code == 404


def test_execution_failure_lists_errors(seed, api, receiver):
    receiver.set_response(status=503, body=b"maintenance")
    action = seed.action("Check", [{"type": "api_call", "config": {"url": receiver.url}}])
    client = api(seed.world.flow_member)
    run_id = client.post(f"{BASE}/executions", {"task_id": "42", "action_id": action.pk}, format="json").json()["id"]
    run_execute(run_id)
    data = client.get(f"{BASE}/executions/{run_id}").json()
    assert data["status"] == "Fail"
    assert data["errors"] == ["Step 1 (API Call) failed: the API answered 503: maintenance"]
    assert data["steps"][0]["response"]["status_code"] == 503


def test_execution_refused_when_not_available_or_requirements_unmet(seed, api):
    from flows.models import Field

    start = seed.action("Start", [{"type": "move_to_stage", "config": {"stage": "In Progress"}}], ["Not Started"])
    client = api(seed.world.flow_member)
    response = client.post(f"{BASE}/executions", {"task_id": "42", "action_id": start.pk}, format="json")
    assert response.status_code == 422
    assert response.json() == {"status": "Fail", "errors": ['"Start" is not available from stage "In Progress".']}
    Field.objects.create(flow=seed.flow, name="Owner Notes", type="text", required=True, position=9)
    finish = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    response = client.post(f"{BASE}/executions", {"task_id": "42", "action_id": finish.pk}, format="json")
    assert response.status_code == 422 and response.json()["errors"] == ["Owner Notes is required"]
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    "body,code",
    [
        ({}, 422),
        ({"task_id": "42"}, 422),
        ({"task_id": "nope", "action_id": 1}, 404),
        ({"task_id": "42", "action_id": 999}, 404),
    ],
)
def test_execution_bad_input(seed, api, body, code):
    response = api(seed.world.flow_member).post(f"{BASE}/executions", body, format="json")
    assert response.status_code == code
    assert response.json()["status"] == "Fail"


def test_performed_by_someone_else_needs_admin(seed, api):
    finish = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    body = {"task_id": "42", "action_id": finish.pk, "performed_by": "admin@example.com"}
    assert api(seed.world.flow_member).post(f"{BASE}/executions", body, format="json").status_code == 403
    body["performed_by"] = "flowie@example.com"
    response = api(seed.world.admin).post(f"{BASE}/executions", body, format="json")
    assert response.status_code == 201
    assert Run.objects.get(pk=response.json()["id"]).performed_by == seed.world.flow_member
    body["performed_by"] = "ghost@example.com"
    assert api(seed.world.admin).post(f"{BASE}/executions", body, format="json").status_code == 422


def test_execution_pinned_to_program_at_start(seed, api, receiver):
    """Editing an action while a run is pending never changes that run."""
    action = seed.action("Go", [{"type": "api_call", "config": {"url": receiver.url_for("/old")}}])
    client = api(seed.world.admin)
    run_id = client.post(f"{BASE}/executions", {"task_id": "42", "action_id": action.pk}, format="json").json()["id"]
    client.put(
        f"{BASE}/actions/{action.pk}",
        {"steps": [{"type": "api_call", "config": {"url": receiver.url_for("/new")}}]},
        format="json",
    )
    run_execute(run_id)
    assert [r.path for r in receiver.requests] == ["/old"]
