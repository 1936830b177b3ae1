"""Credentials of organizations and flows at rest: encrypted in every row, clear only where used.

Each secret is set through a real door (Django admin, the API, a page), then the whole database is
read with raw SQL and searched for the clear value."""

import html as htmllib
import importlib
import re

import pytest
from django.apps import apps
from django.db import connection

from flows.models import Flow, Organization
from flowsite.secrets import MASK, encrypt, is_encrypted
from tests.database import database_text

pytestmark = pytest.mark.django_db

TOKEN = "0123456789abcdef-twilio-token"
ADMIN_ADD = "/admin/flows/organization/add/"


def change_url(org) -> str:
    return f"/admin/flows/organization/{org.pk}/change/"


@pytest.fixture
def operator(world, client):
    world.admin.is_staff = world.admin.is_superuser = True
    world.admin.save()
    client.force_login(world.admin)
    return client


def admin_form(page: str) -> dict:
    """What a browser submits from the admin change form: its inputs, selected options, textareas."""
    form = page[page.index('id="organization_form"') :]
    data: dict[str, list[str]] = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]*)"', tag)
        kind = re.search(r'type="([^"]*)"', tag)
        if not name or (kind and kind.group(1) in ("submit", "button")):
            continue
        if kind and kind.group(1) == "checkbox" and " checked" not in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        data.setdefault(name.group(1), []).append(htmllib.unescape(value.group(1)) if value else "")
    for match in re.finditer(r'<select[^>]*name="([^"]*)"[^>]*>(.*?)</select>', form, re.S):
        for value in re.findall(r'<option value="([^"]*)"[^>]*selected', match.group(2)):
            data.setdefault(match.group(1), []).append(value)
    data.pop("csrfmiddlewaretoken", None)
    return data


def stored_raw(model, pk, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM {model._meta.db_table} WHERE {model._meta.pk.column} = %s",
            [pk],
        )
        return cursor.fetchone()[0]


def test_twilio_token_set_in_the_admin_is_encrypted_masked_and_kept_when_the_mask_is_sent(world, operator, api):
    org = world.org
    page = operator.get(change_url(org)).content.decode()
    form = admin_form(page)
    assert form["twilio_auth_token"] == [""]
    form.update(twilio_account_sid="AC" + "1" * 32, twilio_auth_token=TOKEN, twilio_from_number="+15550001111")
    response = operator.post(change_url(org), form)
    assert response.status_code == 302, response.content.decode()[:2000]

    assert Organization.objects.get(pk=org.pk).twilio_auth_token == TOKEN
    assert is_encrypted(stored_raw(Organization, org.pk, "twilio_auth_token"))
    assert TOKEN not in database_text()

    # Shown masked, never in clear; sending the mask back keeps the token.
    page = operator.get(change_url(org)).content.decode()
    assert TOKEN not in page and f'name="twilio_auth_token" value="{MASK}"' in page
    form = admin_form(page)
    form["name"] = "Acme Renamed"
    assert operator.post(change_url(org), form).status_code == 302
    org.refresh_from_db()
    assert org.name == "Acme Renamed" and org.twilio_auth_token == TOKEN

    # Nowhere else either: the change list, the history, the API, the pages.
    traces = [
        operator.get("/admin/flows/organization/").content.decode(),
        operator.get(f"/admin/flows/organization/{org.pk}/history/").content.decode(),
        api(world.admin).get("/api/organizations/acme").content.decode(),
        api(world.admin).get("/api/organizations").content.decode(),
        operator.get("/").content.decode(),
        operator.get("/flows/acme/sales/settings").content.decode(),
    ]
    assert all(TOKEN not in trace for trace in traces)

    # A new value replaces it; an empty one removes it.
    form["twilio_auth_token"] = "second-token-value"
    assert operator.post(change_url(org), form).status_code == 302
    assert Organization.objects.get(pk=org.pk).twilio_auth_token == "second-token-value"
    assert "second-token-value" not in database_text()
    form["twilio_auth_token"] = ""
    assert operator.post(change_url(org), form).status_code == 302
    assert Organization.objects.get(pk=org.pk).twilio_auth_token == ""


def test_the_mask_without_a_stored_token_is_refused(operator):
    page = operator.get(ADMIN_ADD).content.decode()
    form = admin_form(page)
    form.update(name="New Org", parameterized_name="new-org", user_limit="0", twilio_auth_token=MASK)
    response = operator.post(ADMIN_ADD, form)
    assert response.status_code == 200 and "Enter the token." in response.content.decode()
    form["twilio_auth_token"] = TOKEN
    assert operator.post(ADMIN_ADD, form).status_code == 302
    assert Organization.objects.get(parameterized_name="new-org").twilio_auth_token == TOKEN
    assert TOKEN not in database_text()


def test_signing_secrets_of_flows_made_through_the_api_and_rotated_on_the_page_are_encrypted(world, api, client):
    response = api(world.admin).post("/api/flows/acme", {"name": "Signed"}, format="json")
    assert response.status_code == 201
    flow = Flow.objects.get(pk=response.json()["id"])
    first = flow.signing_secret
    assert first.startswith("whsec_")
    assert is_encrypted(stored_raw(Flow, flow.pk, "signing_secret"))
    assert first not in database_text()
    assert first not in response.content.decode()

    client.force_login(world.admin)
    client.post("/flows/acme/signed/settings", {"action": "rotate_secret"})
    second = Flow.objects.get(pk=flow.pk).signing_secret
    assert second != first and second.startswith("whsec_")
    assert second not in database_text()
    # Receivers need it to verify signatures: the flow's settings page shows it to those who may edit.
    assert second in client.get("/flows/acme/signed/settings").content.decode()
    assert second not in api(world.admin).get("/api/flows/acme/signed").content.decode()


def test_migration_encrypts_values_stored_in_clear_and_leaves_encrypted_ones(world):
    migration = importlib.import_module("flows.migrations.0003_encrypt_credentials")
    other = world.other_org
    already = encrypt("already-encrypted-token")
    with connection.cursor() as cursor:
        # Rows as the previous schema wrote them: in clear.
        cursor.execute("UPDATE flows_organization SET twilio_auth_token = %s WHERE id = %s", [TOKEN, world.org.pk])
        cursor.execute("UPDATE flows_organization SET twilio_auth_token = %s WHERE id = %s", [already, other.pk])
        cursor.execute("UPDATE flows_flow SET signing_secret = %s WHERE id = %s", ["whsec_Y2xlYXI=", world.flow.pk])
    assert TOKEN in database_text() and "whsec_Y2xlYXI=" in database_text()

    migration.encrypt_clear_values(apps, connection.schema_editor())

    assert TOKEN not in database_text() and "whsec_Y2xlYXI=" not in database_text()
    assert stored_raw(Organization, other.pk, "twilio_auth_token") == already
    assert Organization.objects.get(pk=world.org.pk).twilio_auth_token == TOKEN
    assert Organization.objects.get(pk=other.pk).twilio_auth_token == "already-encrypted-token"
    assert Flow.objects.get(pk=world.flow.pk).signing_secret == "whsec_Y2xlYXI="

    migration.decrypt_for_rollback(apps, connection.schema_editor())
    assert stored_raw(Organization, world.org.pk, "twilio_auth_token") == TOKEN
    assert stored_raw(Flow, world.flow.pk, "signing_secret") == "whsec_Y2xlYXI="
