import pytest

pytestmark = pytest.mark.django_db


def test_admin_sees_everyone_in_their_organizations(world, api):
    emails = {u["email"] for u in api(world.admin).get("/api/users").json()}
    assert emails == {"admin@example.com", "member@example.com", "flowie@example.com"}


def test_member_sees_people_sharing_flows(world, api):
    emails = {u["email"] for u in api(world.flow_member).get("/api/users").json()}
    assert emails == {"admin@example.com", "flowie@example.com"}
    # Member of the org but of no flow: only themselves.
    assert [u["email"] for u in api(world.member).get("/api/users").json()] == ["member@example.com"]


def test_user_shape(world, api):
    data = api(world.admin).get(f"/api/users/{world.admin.pk}").json()
    assert set(data) == {"id", "nick", "name", "email", "avatar", "status", "disabled", "last_activity", "last_ping"}
    assert data["name"] == "Ada Admin" and data["nick"] == "ada"


def test_timestamps_as_the_seed_shows_them(world, api):
    from datetime import UTC, datetime

    world.admin.last_activity = datetime(2012, 1, 31, 13, 32, 6, 423000, tzinfo=UTC)
    world.admin.save()
    data = api(world.admin).get(f"/api/users/{world.admin.pk}").json()
    assert data["last_activity"] == 1328016726423000


def test_invisible_user_is_404(world, api):
    assert api(world.member).get(f"/api/users/{world.outsider.pk}").status_code == 404
    assert api(world.member).get("/api/users/999999").status_code == 404


def test_update_only_yourself(world, api):
    me = api(world.flow_member)
    response = me.put(
        f"/api/users/{world.flow_member.pk}", {"nick": "flowy", "email": "new@example.com"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["nick"] == "flowy" and response.json()["email"] == "new@example.com"
    assert me.put(f"/api/users/{world.admin.pk}", {"nick": "hacked"}, format="json").status_code == 403


@pytest.mark.parametrize(
    "body",
    [{"email": "not-an-email"}, {"email": "admin@example.com"}, {"nick": "n" * 101}, {"is_staff": True}, [1]],
)
def test_update_bad_input(world, api, body):
    response = api(world.flow_member).put(f"/api/users/{world.flow_member.pk}", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "Validation error"
