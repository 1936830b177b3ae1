"""A step whose URL is a literal address the outbound policy refuses can never be called, so saving it is
refused, through every door that saves an action step, with the message the run would give. Host names
are not resolved at save time (DNS may answer differently when the step runs)."""

import html

import pytest

from actions.engine import run_execute
from actions.models import Action, Run, Step
from actions.services import action_perform

pytestmark = pytest.mark.django_db

BASE = "/api/flows/acme/sales"
HX = {"HTTP_HX_REQUEST": "true"}

# Spellings the outbound policy reads as an address: dotted, decimal, octal, hex, IPv6, IPv4-mapped.
REFUSED = [
    ("http://169.254.169.254/latest/meta-data/", "address 169.254.169.254 is not allowed (link-local)"),
    ("http://10.0.0.5/hook", "address 10.0.0.5 is not allowed (private network)"),
    ("http://2852039166/", "address 169.254.169.254 is not allowed (link-local)"),
    ("http://0251.0376.0251.0376/", "address 169.254.169.254 is not allowed (link-local)"),
    ("http://0xa.0.0.5/", "address 10.0.0.5 is not allowed (private network)"),
    ("https://[fd00::1]/hook", "address fd00::1 is not allowed (unique local)"),
    ("http://[::ffff:10.0.0.5]/", "address ::ffff:a00:5 is not allowed (embeds 10.0.0.5: private network)"),
    ("http://127.0.0.1:8000/", "address 127.0.0.1 is not allowed (loopback)"),
]


def post_action(api, user, url):
    body = {"name": "Call", "steps": [{"type": "api_call", "config": {"url": url}}]}
    return api(user).post(f"{BASE}/actions", body, format="json")


@pytest.mark.parametrize("url,message", REFUSED)
def test_actions_api_refuses_a_literal_address_with_the_run_message(seed, settings, api, url, message):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    response = post_action(api, seed.world.admin, url)
    assert response.status_code == 400, response.json()
    assert response.json()["errors"] == {"steps[0].config.url": [message]}
    assert not Action.objects.exists()


def test_the_message_is_the_one_the_run_gives(seed, settings):
    # The same URL, saved while allowed and run after the policy narrowed, fails with the same words.
    settings.OUTBOUND_ALLOWED_NETWORKS = ["0.0.0.0/0"]
    action = seed.action("Meta", [{"type": "api_call", "config": {"url": "http://169.254.169.254/latest/"}}])
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    run = run_execute(action_perform(action=action, task=seed.task, actor=seed.world.admin).pk)
    assert run.status == Run.Status.FAIL
    assert "address 169.254.169.254 is not allowed (link-local)" in run.errors[0]


def test_actions_api_update_is_refused_too(seed, settings, api):
    action = seed.action("Call", [{"type": "api_call", "config": {"url": "https://api.example.com/hook"}}])
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    body = {"steps": [{"type": "api_call", "config": {"url": "http://10.0.0.5/hook"}}]}
    response = api(seed.world.admin).put(f"{BASE}/actions/{action.pk}", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"steps[0].config.url": ["address 10.0.0.5 is not allowed (private network)"]}
    assert Step.objects.get(action=action).config["url"] == "https://api.example.com/hook"


def test_allowed_networks_and_host_names_are_accepted(seed, settings, api):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert post_action(api, seed.world.admin, "http://10.0.0.5/hook").status_code == 201
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    # A name is not resolved when saving, even one that resolves to loopback today.
    body = {"name": "By name", "steps": [{"type": "api_call", "config": {"url": "http://localhost:9/hook"}}]}
    assert api(seed.world.admin).post(f"{BASE}/actions", body, format="json").status_code == 201
    public = {"name": "Public", "steps": [{"type": "api_call", "config": {"url": "https://93.184.215.14/x"}}]}
    assert api(seed.world.admin).post(f"{BASE}/actions", public, format="json").status_code == 201


def test_flow_builder_refuses_the_step_next_to_the_url(seed, settings, client):
    action = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    client.force_login(seed.world.admin)
    builder = "/flows/acme/sales/builder"
    client.get(builder)
    form = {"type": "api_call", "step_key": "", "config.url": "http://169.254.169.254/latest/", "config.method": "POST"}
    response = client.post(f"{builder}/actions/a{action.pk}/steps/apply", form, **HX)
    page = html.unescape(response.content.decode())
    assert 'data-error-for="config.url"' in page
    assert "address 169.254.169.254 is not allowed (link-local)" in page
    client.post(f"{builder}/save", **HX)
    assert [s.type for s in Step.objects.filter(action=action)] == ["move_to_stage"]
