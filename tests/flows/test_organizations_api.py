import pytest

pytestmark = pytest.mark.django_db


def test_list_shows_only_my_organizations(world, api):
    data = api(world.member).get("/api/organizations").json()
    assert [o["parameterized_name"] for o in data] == ["acme"]
    org = data[0]
    assert set(org) >= {"id", "name", "parameterized_name", "user_limit", "user_count", "active", "url", "users"}
    assert org["user_count"] == 3
    assert org["url"].endswith("/api/organizations/acme")
    assert {u["email"]: u["admin"] for u in org["users"]}["admin@example.com"] is True


def test_create_makes_the_creator_admin(world, api):
    response = api(world.member).post("/api/organizations", {"name": "New Co"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "New Co" and body["parameterized_name"] == "new-co"
    assert body["user_limit"] == 0 and body["active"] is True and body["user_count"] == 1
    assert body["users"] == [
        {"id": world.member.pk, "name": "Mel Member", "email": "member@example.com", "admin": True}
    ]


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 5}, ["name"], "name"],
)
def test_create_bad_input(world, api, body):
    response = api(world.member).post("/api/organizations", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "Validation error"
    assert response.json()["errors"]


def test_create_with_malformed_json_is_400(world, api):
    response = api(world.member).post("/api/organizations", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"] == "Validation error"


def test_get_and_find(world, api):
    client = api(world.member)
    assert client.get("/api/organizations/acme").json()["id"] == world.org.pk
    assert client.get(f"/api/organizations/find?id={world.org.pk}").json()["parameterized_name"] == "acme"
    assert client.get("/api/organizations/find?id=abc").status_code == 404
    assert client.get("/api/organizations/find").status_code == 404


def test_outsider_gets_404(world, api):
    client = api(world.outsider)
    assert client.get("/api/organizations/acme").status_code == 404
    assert client.get(f"/api/organizations/find?id={world.org.pk}").status_code == 404
    assert client.put("/api/organizations/acme", {"name": "X"}, format="json").status_code == 404
    assert client.get("/api/organizations/acme/users").status_code == 404


def test_update_admin_only(world, api):
    assert api(world.member).put("/api/organizations/acme", {"name": "X"}, format="json").status_code == 403
    response = api(world.admin).put("/api/organizations/acme", {"name": "Acme Inc"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Acme Inc"
    assert response.json()["parameterized_name"] == "acme"
    bad = api(world.admin).put("/api/organizations/acme", {"name": "y" * 101}, format="json")
    assert bad.status_code == 400


def test_users_listing_has_admin_flag(world, api):
    data = api(world.member).get("/api/organizations/acme/users").json()
    assert {u["email"]: u["admin"] for u in data} == {
        "admin@example.com": True,
        "member@example.com": False,
        "flowie@example.com": False,
    }


def test_add_and_remove_users(world, api):
    admin = api(world.admin)
    response = admin.post("/api/organizations/acme/users", {"email": "outsider@example.com"}, format="json")
    assert response.status_code == 201 and response.json()["admin"] is False
    again = admin.post("/api/organizations/acme/users", {"email": "outsider@example.com"}, format="json")
    assert again.status_code == 400
    unknown = admin.post("/api/organizations/acme/users", {"email": "ghost@example.com"}, format="json")
    assert unknown.status_code == 400 and "email" in unknown.json()["errors"]
    assert api(world.member).post("/api/organizations/acme/users", {"email": "x@y.z"}, format="json").status_code == 403
    assert api(world.member).delete(f"/api/organizations/acme/users/{world.outsider.pk}").status_code == 403
    assert admin.delete(f"/api/organizations/acme/users/{world.outsider.pk}").status_code == 204
    assert admin.delete(f"/api/organizations/acme/users/{world.outsider.pk}").status_code == 404


def test_add_user_as_admin(world, api):
    response = api(world.admin).post(
        "/api/organizations/acme/users", {"email": "outsider@example.com", "admin": True}, format="json"
    )
    assert response.status_code == 201 and response.json()["admin"] is True


def test_removing_a_member_removes_their_flows(world, api):
    assert api(world.admin).delete(f"/api/organizations/acme/users/{world.flow_member.pk}").status_code == 204
    assert api(world.flow_member).get("/api/flows").json() == []


def test_last_admin_cannot_be_removed(world, api):
    response = api(world.admin).delete(f"/api/organizations/acme/users/{world.admin.pk}")
    assert response.status_code == 400
