import pytest

from flows.models import Flow, FlowMembership, Organization, User
from tests.factories import make_flow

pytestmark = pytest.mark.django_db


def test_signup_login_logout(client):
    response = client.post(
        "/signup", {"email": "new@example.com", "first_name": "New", "last_name": "Person", "password": "s3cret-pass!"}
    )
    assert response.status_code == 302
    assert User.objects.get(email="new@example.com").check_password("s3cret-pass!")
    assert client.get("/").status_code == 200
    client.post("/logout")
    assert client.get("/").status_code == 302
    response = client.post("/login", {"username": "new@example.com", "password": "s3cret-pass!"})
    assert response.status_code == 302 and client.get("/").status_code == 200


def test_signup_refuses_duplicates_and_weak_passwords(world, client):
    page = client.post("/signup", {"email": "admin@example.com", "password": "another-pass-1"})
    assert page.status_code == 200 and "already exists" in page.content.decode()
    page = client.post("/signup", {"email": "weak@example.com", "password": "123"})
    assert page.status_code == 200 and not User.objects.filter(email="weak@example.com").exists()


def test_login_with_wrong_password(world, client):
    page = client.post("/login", {"username": "admin@example.com", "password": "wrong"})
    assert page.status_code == 200
    assert client.get("/").status_code == 302


def test_home_lists_joined_and_joinable_flows(world, client):
    make_flow(world.org, world.admin, name="Everyone", access_mode="organization")
    client.force_login(world.member)
    html = client.get("/").content.decode()
    assert "Everyone" in html and "not joined" in html and "Sales" not in html


def test_create_organization_and_flow(world, client):
    client.force_login(world.member)
    client.post("/organizations/new", {"name": "Side Project"})
    org = Organization.objects.get(name="Side Project")
    response = client.post(f"/flows/{org.parameterized_name}/new", {"name": "Pipeline"})
    assert response.status_code == 302 and response["Location"] == f"/flows/{org.parameterized_name}/pipeline"
    board = client.get(response["Location"])
    assert board.status_code == 200 and "Pipeline" in board.content.decode()


def test_board_refuses_outsiders(world, client):
    client.force_login(world.outsider)
    assert client.get("/flows/acme/sales").status_code == 404
    assert client.get("/flows/acme/sales/settings").status_code == 404
    client.force_login(world.member)
    assert client.get("/flows/acme/sales").status_code == 404


def test_board_needs_login(world, client):
    response = client.get("/flows/acme/sales")
    assert response.status_code == 302 and response["Location"].startswith("/login")


def test_settings_rename_access_mode_and_members(world, client):
    client.force_login(world.admin)
    page = client.get("/flows/acme/sales/settings")
    assert page.status_code == 200 and "Members" in page.content.decode()
    client.post(
        "/flows/acme/sales/settings", {"action": "save", "name": "Sales 2", "access_mode": "link", "module": "leads"}
    )
    flow = Flow.objects.get(pk=world.flow.pk)
    assert (flow.name, flow.access_mode, flow.module, flow.parameterized_name) == ("Sales 2", "link", "leads", "sales")
    page = client.get("/flows/acme/sales/settings").content.decode()
    assert f"/invitations/{flow.join_token}-sales" in page
    client.post("/flows/acme/sales/settings", {"action": "add_member", "user_id": world.member.pk})
    assert FlowMembership.objects.filter(flow=flow, user=world.member).exists()
    client.post("/flows/acme/sales/settings", {"action": "block", "user_id": world.member.pk})
    assert FlowMembership.objects.get(flow=flow, user=world.member).disabled is True


def test_settings_member_cannot_change_access_mode(world, client):
    client.force_login(world.flow_member)
    client.post("/flows/acme/sales/settings", {"action": "save", "name": "Renamed", "access_mode": "link"})
    flow = Flow.objects.get(pk=world.flow.pk)
    assert flow.name == "Renamed" and flow.access_mode == "invitation"
    page = client.post("/flows/acme/sales/settings", {"action": "block", "user_id": world.admin.pk})
    assert "Only organization admins" in page.content.decode()


def test_rotate_signing_secret(world, client):
    client.force_login(world.admin)
    old = world.flow.signing_secret
    client.post("/flows/acme/sales/settings", {"action": "rotate_secret"})
    world.flow.refresh_from_db()
    assert world.flow.signing_secret != old and world.flow.signing_secret.startswith("whsec_")


def test_admin_pages_render(world, client):
    world.admin.is_staff = world.admin.is_superuser = True
    world.admin.save()
    client.force_login(world.admin)
    from django.apps import apps
    from django.contrib import admin as django_admin

    ours = [m for m in apps.get_models() if m._meta.app_label in {"flows", "tasks", "actions", "workflows"}]
    missing = [m.__name__ for m in ours if not django_admin.site.is_registered(m)]
    assert missing == []
    for model in ours:
        path = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert client.get(path).status_code == 200, path
    assert client.get("/admin/django_q/ormq/").status_code == 200
    assert client.get(f"/admin/flows/flow/{world.flow.pk}/change/").status_code == 200
