import pytest

from tests.workflows.crm import crm  # noqa: F401  (overrides the conftest fixture)
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


def body(**extra):
    data = {
        "name": "Tag web leads",
        "description": "Round-robin assignment for inbound leads",
        "triggerModule": "leads",
        "triggerType": "lead_created",
        "triggerFilters": {
            "logic": "AND",
            "conditions": [{"field": "source", "operator": "equals", "value": "website"}],
        },
        "isActive": True,
        "actions": [{"actionType": "update_data", "config": {"values": {"Score": "10"}}, "sortOrder": 1}],
    }
    data.update(extra)
    return data


def test_create_and_read_in_the_seed_shape(crm, api):
    response = api(crm.world.admin).post("/api/workflows", body(), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert set(data) >= {
        "id",
        "name",
        "description",
        "triggerModule",
        "triggerType",
        "triggerFilters",
        "isActive",
        "version",
        "actions",
    }
    assert data["version"] == 1 and data["isActive"] is True and data["triggerModule"] == "leads"
    assert data["triggerFilters"] == {
        "logic": "AND",
        "conditions": [{"field": "Source", "operator": "equals", "value": "website"}],
    }
    [action] = data["actions"]
    assert set(action) == {"id", "actionType", "config", "sortOrder"} and action["sortOrder"] == 1
    member = api(crm.world.member)
    assert member.get(f"/api/workflows/{data['id']}").json() == data
    assert [w["id"] for w in member.get("/api/workflows").json()] == [data["id"]]
    assert member.get("/api/workflows?module=leads").json()[0]["id"] == data["id"]
    assert member.get("/api/workflows?module=tasks").json() == []
    assert member.get("/api/workflows?module=widgets").status_code == 400


def test_put_bumps_version_and_toggle_and_delete(crm, api):
    admin = api(crm.world.admin)
    workflow_id = admin.post("/api/workflows", body(), format="json").json()["id"]
    updated = admin.put(f"/api/workflows/{workflow_id}", {"name": "Renamed"}, format="json").json()
    assert updated["version"] == 2 and updated["name"] == "Renamed"
    assert admin.patch(f"/api/workflows/{workflow_id}/toggle").json()["isActive"] is False
    assert admin.patch(f"/api/workflows/{workflow_id}/toggle").json()["isActive"] is True
    assert (
        admin.patch(f"/api/workflows/{workflow_id}/toggle", {"isActive": False}, format="json").json()["isActive"]
        is False
    )
    assert admin.delete(f"/api/workflows/{workflow_id}").status_code == 204
    assert admin.get(f"/api/workflows/{workflow_id}").status_code == 404


def test_access_rules(crm, api):
    workflow_id = api(crm.world.admin).post("/api/workflows", body(), format="json").json()["id"]
    member = api(crm.world.member)
    assert member.post("/api/workflows", body(organization="acme"), format="json").status_code == 403
    assert member.put(f"/api/workflows/{workflow_id}", {"name": "X"}, format="json").status_code == 403
    assert member.patch(f"/api/workflows/{workflow_id}/toggle").status_code == 403
    assert member.delete(f"/api/workflows/{workflow_id}").status_code == 403
    outsider = api(crm.world.outsider)
    assert outsider.get(f"/api/workflows/{workflow_id}").status_code == 404
    assert outsider.get("/api/workflows").json() == []
    assert outsider.post("/api/workflows", body(organization="acme"), format="json").status_code == 400
    assert api(crm.world.admin).get("/api/workflows/not-a-uuid").status_code == 404


@pytest.mark.parametrize(
    "change,key",
    [
        ({"triggerType": "task_completed"}, "triggerType"),
        ({"triggerModule": "widgets"}, "triggerModule"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"isActive": "yes"}, "isActive"),
        (
            {
                "triggerFilters": {
                    "logic": "AND",
                    "conditions": [{"field": "sorce", "operator": "equals", "value": "x"}],
                }
            },
            "triggerFilters.conditions[0].field",
        ),
        (
            {"triggerFilters": {"logic": "AND", "conditions": [{"field": "Source", "operator": "eq", "value": "x"}]}},
            "triggerFilters.conditions[0].operator",
        ),
        ({"triggerFilters": {"logic": "XOR", "conditions": []}}, "triggerFilters.logic"),
        ({"actions": [{"actionType": "teleport", "config": {}}]}, "actions[0].actionType"),
        ({"actions": [{"config": {}}]}, "actions[0].actionType"),
        ({"actions": [{"actionType": "move_to_stage", "config": {}}]}, "actions[0].config.stage"),
        ({"actions": "all"}, "actions"),
        ({"flowId": "nope"}, "flowId"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_validation_errors_are_400(crm, api, change, key):
    response = api(crm.world.admin).post("/api/workflows", body(**change), format="json")
    assert response.status_code == 400
    assert key in response.json()["errors"], response.json()
    assert not Workflow.objects.exists()


def test_non_object_body_is_400(crm, api):
    assert api(crm.world.admin).post("/api/workflows", "[]", content_type="application/json").status_code == 400


def test_flow_must_match_the_module(crm, api):
    response = api(crm.world.admin).post("/api/workflows", body(flowId=crm.tasks.pk), format="json")
    assert response.status_code == 400 and "flowId" in response.json()["errors"]
    ok = api(crm.world.admin).post("/api/workflows", body(flowId=crm.leads.pk), format="json")
    assert ok.status_code == 201 and ok.json()["flowId"] == crm.leads.pk
