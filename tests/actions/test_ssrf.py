"""The API Call step cannot be aimed at internal addresses, whatever the spelling. Only loopback
traffic is ever sent; non-loopback addresses are checked through a stubbed resolver."""

import pytest

from actions.engine import run_execute
from actions.models import Run
from actions.services import action_perform
from flowsite import outbound

pytestmark = pytest.mark.django_db

LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "localhost",
    "2130706433",
    "0177.0.0.1",
    "0x7f.0.0.1",
    "0.0.0.0",
    "[::ffff:127.0.0.1]",
]


def perform(seed, url, settings, allowed):
    # Saving refuses a literal address the policy refuses (tests/actions/test_save_refuses_addresses.py), so
    # these steps are saved while the operator allowed every network, and run after the policy narrowed.
    settings.OUTBOUND_ALLOWED_NETWORKS = ["0.0.0.0/0", "::/0"]
    action = seed.action(f"Call {url}"[:100], [{"type": "api_call", "config": {"url": url}}])
    settings.OUTBOUND_ALLOWED_NETWORKS = allowed
    return run_execute(action_perform(action=action, task=seed.task, actor=seed.world.flow_member).pk)


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_loopback_spellings_are_refused_and_the_receiver_stays_silent(seed, settings, receiver, host):
    run = perform(seed, f"http://{host}:{receiver.port}/hook", settings, ["127.0.0.2/32"])
    assert run.status == Run.Status.FAIL
    assert "is not allowed" in run.errors[0]
    assert "Traceback" not in run.errors[0]
    assert receiver.requests == [] and receiver.connections == []


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "10.0.0.1", "100.64.0.1", "fd00::1", "192.168.1.10", "::ffff:10.0.0.1"]
)
def test_internal_addresses_behind_a_name_are_refused(seed, settings, monkeypatch, address):
    monkeypatch.setattr(outbound, "resolve_host", lambda host, port: [address])
    run = perform(seed, "http://internal.customer.test/hook", settings, [])
    assert run.status == Run.Status.FAIL
    assert "is not allowed" in run.errors[0]
    assert ("10.0.0.1" if address.startswith("::ffff:") else address) in run.errors[0]


def test_metadata_address_literal_is_refused_with_reason(seed, settings):
    run = perform(seed, "http://169.254.169.254/latest/meta-data/", settings, [])
    assert run.status == Run.Status.FAIL
    assert "address 169.254.169.254 is not allowed" in run.errors[0]


def test_allowed_network_lets_the_call_through(seed, settings, receiver):
    assert perform(seed, receiver.url, settings, ["127.0.0.1/32"]).status == Run.Status.SUCCESS
    assert len(receiver.requests) == 1
