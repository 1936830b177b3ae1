"""Who reads a workflow: every member of its organization while it spans the module's flows; only
those who may read the flow (flows.selectors.flow_readable_ids) once it is bound to one flow, since
its filters and calls describe that flow's task data. Through the API and the pages."""

import pytest

pytestmark = pytest.mark.django_db


def make(api, crm, name, flow=None):
    data = {
        "name": name,
        "triggerModule": "projects",
        "triggerType": "project_created",
        "isActive": False,
        "actions": [{"actionType": "update_field", "config": {"fields": {"Amount": "1"}}}],
    }
    if flow is not None:
        data["flowId"] = flow.pk
    response = api(crm.world.admin).post("/api/workflows", data, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_a_workflow_bound_to_an_unreadable_flow_is_not_found(crm, api, client):
    everywhere = make(api, crm, "Every project")
    bound = make(api, crm, "Projects only", flow=crm.projects)
    member = crm.world.member  # a member of the organization and of Leads, not of Projects
    reader = api(member)
    assert [w["name"] for w in reader.get("/api/workflows").json()] == ["Every project"]
    assert reader.get(f"/api/workflows/{everywhere}").status_code == 200
    assert reader.get(f"/api/workflows/{bound}").status_code == 404
    assert reader.get(f"/api/workflows/{bound}/runs").status_code == 404
    client.force_login(member)
    page = client.get("/organizations/acme/workflows")
    assert page.status_code == 200
    assert b"Every project" in page.content and b"Projects only" not in page.content
    assert client.get(f"/organizations/acme/workflows/{bound}").status_code == 404

    # The organization's admin reads every flow, so every workflow; a member of the flow reads it too.
    assert {w["name"] for w in api(crm.world.admin).get("/api/workflows").json()} == {"Every project", "Projects only"}
    crm.projects.memberships.create(user=member)
    assert reader.get(f"/api/workflows/{bound}").status_code == 200
