import re

import pytest

from flows.models import Flow, FlowMembership
from tests.factories import make_flow

pytestmark = pytest.mark.django_db

FLOW_KEYS = {
    "id",
    "name",
    "parameterized_name",
    "organization",
    "unread_mentions",
    "open",
    "joined",
    "url",
    "web_url",
    "access_mode",
}


def test_list_flows_only_joined(world, api):
    data = api(world.admin).get("/api/flows").json()
    assert [f["name"] for f in data] == ["Sales"]
    flow = data[0]
    assert FLOW_KEYS <= set(flow)
    assert flow["joined"] is True and flow["open"] is True and flow["unread_mentions"] == 0
    assert flow["access_mode"] == "invitation"
    assert "join_url" not in flow and "users" not in flow
    assert flow["url"].endswith("/api/flows/acme/sales")
    assert flow["web_url"].endswith("/flows/acme/sales")
    assert flow["organization"] == {
        "id": world.org.pk,
        "name": "Acme",
        "parameterized_name": "acme",
        "user_limit": 0,
        "user_count": 3,
        "active": True,
        "url": "http://testserver/api/organizations/acme",
    }
    assert api(world.flow_member).get("/api/flows").json()[0]["id"] == world.flow.pk
    assert api(world.member).get("/api/flows").json() == []
    assert api(world.outsider).get("/api/flows").json() == []


def test_users_param_includes_users(world, api):
    data = api(world.admin).get("/api/flows?users=1").json()
    assert {u["email"] for u in data[0]["users"]} == {"admin@example.com", "flowie@example.com"}
    assert "users" not in api(world.admin).get("/api/flows?users=0").json()[0]


def test_all_flows_includes_joinable_organization_flows(world, api):
    org_flow = make_flow(world.org, world.admin, name="Everyone", access_mode="organization")
    make_flow(world.org, world.admin, name="Linked", access_mode="link")
    data = api(world.member).get("/api/flows/all").json()
    assert [(f["name"], f["joined"], f["open"]) for f in data] == [("Everyone", False, False)]
    assert data[0]["join_url"].endswith(f"/invitations/{org_flow.join_token}-everyone")
    assert api(world.member).get("/api/flows").json() == []
    assert api(world.outsider).get("/api/flows/all").json() == []
    names = [f["name"] for f in api(world.admin).get("/api/flows/all?users=1").json()]
    assert names == ["Everyone", "Linked", "Sales"]


def test_get_flow_includes_users_and_access_matrix(world, api):
    response = api(world.flow_member).get("/api/flows/acme/sales")
    assert response.status_code == 200
    data = response.json()
    assert {u["email"] for u in data["users"]} == {"admin@example.com", "flowie@example.com"}
    user = data["users"][0]
    assert set(user) >= {"id", "nick", "name", "email", "avatar", "status", "disabled", "last_activity", "last_ping"}
    assert api(world.admin).get("/api/flows/acme/sales").status_code == 200
    # An organization member who was not invited, and an outsider, learn nothing.
    assert api(world.member).get("/api/flows/acme/sales").status_code == 404
    assert api(world.outsider).get("/api/flows/acme/sales").status_code == 404
    assert api(world.admin).get("/api/flows/acme/nope").status_code == 404
    assert api(world.admin).get("/api/flows/nope/sales").status_code == 404


def test_find_by_id(world, api):
    assert api(world.flow_member).get(f"/api/flows/find?id={world.flow.pk}").json()["name"] == "Sales"
    assert api(world.member).get(f"/api/flows/find?id={world.flow.pk}").status_code == 404
    assert api(world.outsider).get(f"/api/flows/find?id={world.flow.pk}").status_code == 404
    assert api(world.admin).get("/api/flows/find").status_code == 404


def test_flowdock_user_header_everywhere(world, api):
    client = api(world.member)
    for path in ["/api/flows", "/api/flows/all", "/api/flows/acme/sales", "/api/organizations", "/api/users"]:
        assert client.get(path)["Flowdock-User"] == str(world.member.pk)


def test_create_flow(world, api):
    response = api(world.member).post("/api/flows/acme", {"name": "My flow"}, format="json")
    assert response.status_code == 201
    data = response.json()
    assert data["name"] == "My flow" and data["parameterized_name"] == "my-flow"
    assert data["access_mode"] == "invitation" and "join_url" not in data
    assert data["joined"] is True and data["open"] is True
    assert [u["email"] for u in data["users"]] == ["member@example.com"]
    assert re.fullmatch(r"[0-9a-f]{16}", data["id"])
    second = api(world.member).post("/api/flows/acme", {"name": "My flow"}, format="json").json()
    assert second["id"] != data["id"] and second["parameterized_name"] == "my-flow-2"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "x" * 101}, "name"),
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "Ok", "access_mode": "public"}, "access_mode"),
        ({"name": "Ok", "module": "widgets"}, "module"),
        ({"name": "Ok", "colour": "red"}, "colour"),
    ],
)
def test_create_flow_bad_input(world, api, body, field):
    response = api(world.admin).post("/api/flows/acme", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "Validation error"
    assert field in response.json()["errors"]


@pytest.mark.parametrize("body", ["[]", '"flow"', "42", "null", "{bad json"])
def test_non_object_bodies_are_400(world, api, body):
    for method, path in [("post", "/api/flows/acme"), ("put", "/api/flows/acme/sales")]:
        response = getattr(api(world.admin), method)(path, body, content_type="application/json")
        assert response.status_code == 400, (method, body)


def test_create_flow_in_foreign_organization_is_404(world, api):
    assert api(world.outsider).post("/api/flows/acme", {"name": "X"}, format="json").status_code == 404


def test_only_admins_create_open_flows(world, api):
    response = api(world.member).post("/api/flows/acme", {"name": "X", "access_mode": "link"}, format="json")
    assert response.status_code == 403
    ok = api(world.admin).post("/api/flows/acme", {"name": "X", "access_mode": "link"}, format="json")
    assert ok.status_code == 201 and "join_url" in ok.json()


def test_rename_keeps_id_and_parameterized_name(world, api):
    response = api(world.flow_member).put("/api/flows/acme/sales", {"name": "Sales EMEA"}, format="json")
    assert response.status_code == 200
    data = response.json()
    assert data["name"] == "Sales EMEA" and data["id"] == world.flow.pk and data["parameterized_name"] == "sales"
    assert api(world.flow_member).get("/api/flows/acme/sales").json()["name"] == "Sales EMEA"
    too_long = api(world.flow_member).put("/api/flows/acme/sales", {"name": "x" * 101}, format="json")
    assert too_long.status_code == 400


def test_only_admins_change_access_mode_and_disabled(world, api):
    member = api(world.flow_member)
    assert member.put("/api/flows/acme/sales", {"access_mode": "link"}, format="json").status_code == 403
    assert member.put("/api/flows/acme/sales", {"disabled": True}, format="json").status_code == 403
    bad = api(world.admin).put("/api/flows/acme/sales", {"access_mode": "everyone"}, format="json")
    assert bad.status_code == 400 and "access_mode" in bad.json()["errors"]
    response = api(world.admin).put(
        "/api/flows/acme/sales",
        {"name": "My new flow", "disabled": False, "access_mode": "organization"},
        format="json",
    )
    assert response.status_code == 200
    data = response.json()
    assert data["access_mode"] == "organization" and "join_url" in data and data["name"] == "My new flow"


def test_put_open_joins_organization_flow(world, api):
    make_flow(world.org, world.admin, name="Everyone", access_mode="organization")
    client = api(world.member)
    before = client.get("/api/flows/acme/everyone").json()
    assert before["joined"] is False
    response = client.put("/api/flows/acme/everyone", {"open": True}, format="json")
    assert response.status_code == 200 and response.json()["joined"] is True and response.json()["open"] is True
    assert [f["name"] for f in client.get("/api/flows").json()] == ["Everyone"]
    closed = client.put("/api/flows/acme/everyone", {"open": False}, format="json").json()
    assert closed["open"] is False and closed["joined"] is True


def test_a_link_flow_is_joined_by_its_link_not_by_browsing(world, api, client):
    """Link mode: "anyone can join the flow by using the join_url"; only organization mode adds
    "anyone in the organization can join" without it. So an organization member who has not the link
    neither sees a link flow nor joins it with PUT open; with the link they join."""
    flow = make_flow(world.org, world.admin, name="Linked", access_mode="link")
    member = api(world.member)
    assert member.put("/api/flows/acme/linked", {"open": True}, format="json").status_code == 404
    assert member.get("/api/flows/acme/linked").status_code == 404
    assert "linked" not in [f["parameterized_name"] for f in member.get("/api/flows/all").json()]
    assert member.put("/api/flows/acme/sales", {"open": True}, format="json").status_code == 404
    assert api(world.outsider).put("/api/flows/acme/linked", {"open": True}, format="json").status_code == 404
    assert not FlowMembership.objects.filter(flow=flow, user=world.member).exists()
    client.force_login(world.member)
    assert client.post(f"/invitations/{flow.join_token}-linked").status_code == 302
    assert member.get("/api/flows/acme/linked").json()["joined"] is True


def test_non_member_cannot_rename_joinable_flow(world, api):
    make_flow(world.org, world.admin, name="Everyone", access_mode="organization")
    response = api(world.member).put("/api/flows/acme/everyone", {"name": "Mine"}, format="json")
    assert response.status_code == 403


def test_disabled_flow_disappears_from_users(world, api):
    assert api(world.admin).put("/api/flows/acme/sales", {"disabled": True}, format="json").status_code == 200
    assert api(world.flow_member).get("/api/flows").json() == []
    assert api(world.flow_member).get("/api/flows/acme/sales").status_code == 404
    assert api(world.admin).get("/api/flows").json() == []
    # Admins can still reach it to re-enable it.
    assert api(world.admin).get("/api/flows/acme/sales").json()["disabled"] is True
    assert api(world.admin).put("/api/flows/acme/sales", {"disabled": False}, format="json").status_code == 200
    assert len(api(world.flow_member).get("/api/flows").json()) == 1


def test_flow_users_listing_and_adding(world, api):
    client = api(world.flow_member)
    assert {u["email"] for u in client.get("/api/flows/acme/sales/users").json()} == {
        "admin@example.com",
        "flowie@example.com",
    }
    added = client.post("/api/flows/acme/sales/users", {"id": world.member.pk}, format="json")
    assert added.status_code == 201 and added.json()["email"] == "member@example.com"
    assert api(world.member).get("/api/flows/acme/sales").status_code == 200
    outsider = client.post("/api/flows/acme/sales/users", {"id": world.outsider.pk}, format="json")
    assert outsider.status_code == 400 and "id" in outsider.json()["errors"]
    for bad in [{"id": "abc"}, {}, {"id": None}, {"id": [1]}]:
        assert client.post("/api/flows/acme/sales/users", bad, format="json").status_code == 400
    assert api(world.outsider).get("/api/flows/acme/sales/users").status_code == 404


def test_non_member_cannot_add_people(world, api):
    make_flow(world.org, world.admin, name="Everyone", access_mode="organization")
    response = api(world.member).post("/api/flows/acme/everyone/users", {"id": world.member.pk}, format="json")
    assert response.status_code == 403


def test_blocking_a_member(world, api):
    path = f"/api/flows/acme/sales/users/{world.flow_member.pk}"
    assert api(world.flow_member).put(path, {"disabled": True}, format="json").status_code == 403
    response = api(world.admin).put(path, {"disabled": True}, format="json")
    assert response.status_code == 200 and response.json()["disabled"] is True
    assert api(world.flow_member).get("/api/flows/acme/sales").status_code == 404
    assert api(world.flow_member).get("/api/flows").json() == []
    assert api(world.admin).put(path, {"disabled": "yes"}, format="json").status_code == 400
    assert api(world.admin).put(f"/api/flows/acme/sales/users/{world.member.pk}", {"disabled": True}, format="json")
    assert FlowMembership.objects.get(flow=world.flow, user=world.flow_member).disabled is True


def test_blocked_member_cannot_rejoin_by_link(world, api, client):
    world.flow.access_mode = Flow.AccessMode.LINK
    world.flow.save()
    FlowMembership.objects.filter(flow=world.flow, user=world.flow_member).update(disabled=True)
    client.force_login(world.flow_member)
    response = client.post(f"/invitations/{world.flow.join_token}-sales")
    assert response.status_code == 302 and response["Location"] == "/"
    assert FlowMembership.objects.get(flow=world.flow, user=world.flow_member).disabled is True
    assert client.get("/flows/acme/sales/tasks/new").status_code == 404


def test_join_url_joins_in_the_browser(world, api, client):
    flow = make_flow(world.org, world.admin, name="Linked", access_mode="link")
    join_url = api(world.admin).get("/api/flows/acme/linked").json()["join_url"]
    client.force_login(world.outsider)
    page = client.get(join_url.replace("http://testserver", ""))
    assert page.status_code == 200 and "Join Linked" in page.content.decode()
    assert not FlowMembership.objects.filter(flow=flow, user=world.outsider).exists()
    response = client.post(join_url.replace("http://testserver", ""))
    assert response.status_code == 302 and response["Location"] == "/flows/acme/linked"
    assert FlowMembership.objects.filter(flow=flow, user=world.outsider, disabled=False).exists()
    assert client.get("/invitations/not-a-token").status_code == 404


def test_join_url_of_invitation_flow_does_not_work(world, client):
    client.force_login(world.outsider)
    assert client.get(f"/invitations/{world.flow.join_token}-sales").status_code == 404


def test_reserved_slugs_are_not_used(world, api):
    response = api(world.admin).post("/api/flows/acme", {"name": "All"}, format="json")
    assert response.json()["parameterized_name"] == "all-2"
    assert api(world.admin).get("/api/flows/all").status_code == 200


def test_schema_and_docs_work_offline(world, client):
    client.force_login(world.admin)
    schema = client.get("/api/schema")
    assert schema.status_code == 200 and b"/api/flows" in schema.content
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
