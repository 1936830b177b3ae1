import base64

import pytest
from rest_framework.test import APIClient

from tests.factories import token_for

pytestmark = pytest.mark.django_db


def test_missing_auth_is_refused(world):
    response = APIClient().get("/api/flows")
    assert response.status_code in (401, 403)
    assert "Flowdock-User" not in response


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "bearer"])
def test_token_and_bearer_headers(world, scheme):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token_for(world.admin)}")
    response = client.get("/api/flows")
    assert response.status_code == 200
    assert response["Flowdock-User"] == str(world.admin.pk)


def test_basic_with_token_as_user_name_and_any_password(world):
    raw = base64.b64encode(f"{token_for(world.member)}:whatever".encode()).decode()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")
    response = client.get("/api/flows")
    assert response.status_code == 200
    assert response["Flowdock-User"] == str(world.member.pk)


@pytest.mark.parametrize(
    "header",
    ["Bearer nope", "Token", "Bearer a b", "Basic !!!notbase64", "Basic " + base64.b64encode(b"nope:x").decode()],
)
def test_bad_credentials_are_401(world, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get("/api/flows").status_code == 401


def test_disabled_user_token_is_refused(world):
    world.member.disabled = True
    world.member.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(world.member)}")
    assert client.get("/api/flows").status_code == 401


def test_session_auth_works_for_the_browser(world, client):
    client.force_login(world.admin)
    response = client.get("/api/flows")
    assert response.status_code == 200


def test_drf_create_token_command(world, capsys):
    from django.core.management import call_command

    call_command("drf_create_token", world.member.email)
    out = capsys.readouterr().out
    assert token_for(world.member) in out


def test_settings_page_shows_and_regenerates_token(world, client):
    client.force_login(world.member)
    old = token_for(world.member)
    page = client.get("/settings")
    assert page.status_code == 200 and old in page.content.decode()
    client.post("/settings", {"regenerate": "1"})
    new = token_for(world.member)
    assert new != old
    assert new in client.get("/settings").content.decode()
