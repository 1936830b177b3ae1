"""Joining a flow by its join link: GET shows what you are joining and a button, only a
CSRF-protected POST joins. Link mode admits whoever holds the link; organization mode only members
of the flow's organization; invitation-only and disabled flows nobody."""

import re

import pytest
from django.test import Client

from flows.models import Flow, FlowMembership
from flows.services import flow_join_by_token
from flowsite.api import Forbidden
from tasks.services import task_create
from tests.conftest import api_client
from tests.factories import make_flow

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def join_path(flow: Flow) -> str:
    return f"/invitations/{flow.join_token}-{flow.parameterized_name}"


def csrf_token(page) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert match, "the join page has no CSRF-protected form"
    return match.group(1)


def joined(flow: Flow, user) -> bool:
    return FlowMembership.objects.filter(flow=flow, user=user).exists()


@pytest.fixture
def flows(world):
    org_flow = make_flow(world.org, world.admin, name="Everyone", access_mode="organization")
    link_flow = make_flow(world.org, world.admin, name="Linked", access_mode="link")
    for flow in (org_flow, link_flow):
        task_create(flow=flow, actor=world.admin, data={})
    return org_flow, link_flow


def test_outsider_cannot_join_an_organization_mode_flow_by_its_link(world, flows):
    org_flow, _ = flows
    client = browser(world.outsider)
    page = client.get(join_path(org_flow))
    assert page.status_code == 404
    # Not even with a valid CSRF token of their own session.
    client.get("/")
    token = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else "x"
    assert client.post(join_path(org_flow), {"csrfmiddlewaretoken": token}).status_code in (403, 404)
    assert not joined(org_flow, world.outsider)
    assert api_client(world.outsider).get("/api/flows/acme/everyone/tasks").status_code == 404
    with pytest.raises(Forbidden):
        flow_join_by_token(user=world.outsider, flow=org_flow)
    assert not joined(org_flow, world.outsider)


@pytest.mark.parametrize("mode", ["link", "organization"])
def test_get_shows_the_flow_and_a_button_and_joins_nothing(world, flows, mode):
    flow = flows[0] if mode == "organization" else flows[1]
    # An organization member may use either link; an outsider only the link-mode one.
    user = world.member if mode == "organization" else world.outsider
    page = browser(user).get(join_path(flow))
    html = page.content.decode()
    assert page.status_code == 200
    assert flow.name in html and "Acme" in html
    assert re.search(r"<form method=\"post\"", html) and "<button" in html
    assert not joined(flow, user)
    assert api_client(user).get(f"/api/flows/acme/{flow.parameterized_name}/tasks").status_code == 404


@pytest.mark.parametrize("mode", ["link", "organization"])
def test_post_without_csrf_token_is_refused_and_with_it_joins(world, flows, mode):
    flow = flows[0] if mode == "organization" else flows[1]
    user = world.member if mode == "organization" else world.outsider
    client = browser(user)
    page = client.get(join_path(flow))
    assert client.post(join_path(flow)).status_code == 403
    assert not joined(flow, user)

    response = client.post(join_path(flow), {"csrfmiddlewaretoken": csrf_token(page)})
    assert response.status_code == 302 and response["Location"] == f"/flows/acme/{flow.parameterized_name}"
    assert FlowMembership.objects.filter(flow=flow, user=user, disabled=False).exists()
    tasks = api_client(user).get(f"/api/flows/acme/{flow.parameterized_name}/tasks")
    assert tasks.status_code == 200 and len(tasks.json()) == 1
    # Once in, the link leads straight to the board.
    again = client.get(join_path(flow))
    assert again.status_code == 302 and again["Location"] == f"/flows/acme/{flow.parameterized_name}"


def test_invitation_and_disabled_flows_cannot_be_joined_by_link(world, flows):
    _, link_flow = flows
    client = browser(world.member)
    assert client.get(join_path(world.flow)).status_code == 404  # invitation only
    assert client.post(join_path(world.flow)).status_code in (403, 404)
    Flow.objects.filter(pk=link_flow.pk).update(disabled=True)
    assert client.get(join_path(link_flow)).status_code == 404
    assert not joined(world.flow, world.member) and not joined(link_flow, world.member)


def test_anonymous_is_sent_to_log_in(world, flows):
    _, link_flow = flows
    response = Client(enforce_csrf_checks=True).get(join_path(link_flow))
    assert response.status_code == 302 and response["Location"].startswith("/login")


def test_join_prompt_on_the_board_joins_by_post_only(world, flows):
    org_flow, _ = flows
    client = browser(world.member)
    page = client.get("/flows/acme/everyone")
    assert page.status_code == 200 and "Join flow" in page.content.decode()
    assert not joined(org_flow, world.member)
    assert client.post("/flows/acme/everyone/settings", {"action": "join"}).status_code == 403
    assert not joined(org_flow, world.member)
    response = client.post("/flows/acme/everyone/settings", {"action": "join", "csrfmiddlewaretoken": csrf_token(page)})
    assert response.status_code == 302 and joined(org_flow, world.member)
