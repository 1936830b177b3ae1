"""Who a token is and which flow a person may work in are cached per process under the access
version, which a database trigger replaces with every write to tokens, users, organizations,
memberships and flows: a change takes effect on the very next request, whichever door it came in
by (the API, a page, a queryset update no signal sees)."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from flows.models import Flow, FlowMembership, User
from tests.conftest import api_client
from tests.factories import token_for

pytestmark = pytest.mark.django_db

TASKS = "/api/flows/acme/sales/tasks"


def _tables(queries) -> str:
    return " ".join(q["sql"] for q in queries)


def test_a_repeated_request_reads_the_version_not_the_token_or_the_flow(world):
    client = api_client(world.flow_member)
    assert client.get(TASKS).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get(TASKS).status_code == 200
    sql = _tables(queries)
    assert "flows_cacheversion" in sql
    assert "authtoken_token" not in sql and "flows_flowmembership" not in sql


def test_a_regenerated_token_is_refused_on_the_next_request(world):
    old = token_for(world.flow_member)
    client = api_client(world.flow_member)
    assert client.get(TASKS).status_code == 200  # cached now
    page = Client()
    page.force_login(world.flow_member)
    assert page.post("/settings", {"regenerate": "1"}).status_code == 302
    assert client.get(TASKS).status_code == 401
    fresh = api_client()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(world.flow_member)}")
    assert token_for(world.flow_member) != old
    assert fresh.get(TASKS).status_code == 200


def test_a_blocked_member_is_refused_on_the_next_request(world):
    member = api_client(world.flow_member)
    assert member.get(TASKS).status_code == 200
    blocked = api_client(world.admin).put(
        f"/api/flows/acme/sales/users/{world.flow_member.pk}", {"disabled": True}, format="json"
    )
    assert blocked.status_code == 200, blocked.json()
    assert member.get(TASKS).status_code == 404
    assert member.post(TASKS, {"Name": "x"}, format="json").status_code == 404


def test_a_member_removed_from_the_organization_is_refused_on_the_next_request(world):
    member = api_client(world.flow_member)
    assert member.get(TASKS).status_code == 200
    removed = api_client(world.admin).delete(f"/api/organizations/acme/users/{world.flow_member.pk}")
    assert removed.status_code == 204
    assert member.get(TASKS).status_code == 404


def test_a_disabled_flow_is_closed_on_the_next_request(world):
    member = api_client(world.flow_member)
    assert member.get(TASKS).status_code == 200
    assert api_client(world.admin).put("/api/flows/acme/sales", {"disabled": True}, format="json").status_code == 200
    assert member.get(TASKS).status_code == 404


def test_writes_no_signal_sees_take_effect_at_once_too(world):
    member = api_client(world.flow_member)
    assert member.get(TASKS).status_code == 200
    FlowMembership.objects.filter(user=world.flow_member).update(disabled=True)
    assert member.get(TASKS).status_code == 404
    FlowMembership.objects.filter(user=world.flow_member).update(disabled=False)
    assert member.get(TASKS).status_code == 200
    User.objects.filter(pk=world.flow_member.pk).update(disabled=True)
    assert member.get(TASKS).status_code == 401
    User.objects.filter(pk=world.flow_member.pk).update(disabled=False)
    assert member.get(TASKS).status_code == 200
    # A renamed flow answers at its new address only.
    Flow.objects.filter(pk=world.flow.pk).update(parameterized_name="renamed")
    assert member.get(TASKS).status_code == 404
    assert member.get("/api/flows/acme/renamed/tasks").status_code == 200
