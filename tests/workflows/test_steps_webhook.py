"""The webhook action against real loopback receivers: payload, signing, interpolation, retries."""

import json
import threading

import pytest
from django.utils import timezone

from actions.engine import run_execute
from actions.models import Run
from tests.receivers import Receiver, Reply, hang
from tests.signatures import assert_signed
from tests.workflows.conftest import run_to_end, run_workflow, start_workflow, step_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def hook(url, **extra):
    return [{"actionType": "webhook", "config": {"url": url, **extra}}]


def test_default_payload_is_signed_and_carries_the_record(crm, receiver):
    lead = crm.lead()
    run = start_workflow(
        lead,
        hook(receiver.url_for("/hooks/lead"), headers=[{"name": "Authorization", "value": "Bearer hook-secret"}]),
        context={"event": {"type": "lead_created"}},
        name="Notify CRM",
    )
    run = run_execute(run.pk)
    assert run.status == Run.Status.SUCCESS, step_error(run)
    [request] = receiver.wait_for_requests(1)
    assert request.method == "POST" and request.path == "/hooks/lead"
    body = json.loads(request.body)
    assert body["event"] == "lead_created"
    assert body["workflow"] == {"id": str(run.workflow_id), "name": "Notify CRM"}
    assert body["task"]["Company Name"] == "Acme Corp" and body["task"]["id"] == lead.pk
    assert request.headers["Authorization"] == "Bearer hook-secret"
    step = run.step_runs.get()
    assert request.headers["Idempotency-Key"] == request.headers["webhook-id"] == step.idempotency_key
    assert_signed(request, secret=crm.leads.signing_secret)
    assert "hook-secret" not in json.dumps([step.request, step.response])
    assert step.output == {"status_code": 200, "attempts": 1}
    # The secret is stored encrypted and shown masked.
    stored = run.workflow.actions.get().config["headers"][0]
    assert stored["secret"] and stored["value"].startswith("enc:")


def test_custom_body_method_and_headers_are_interpolated(crm, receiver):
    lead = crm.lead(Score=9)
    config = {
        "method": "PUT",
        "headers": {"X-Lead-Source": "{{trigger.source}}"},
        "body": {"company": "{{trigger.companyName}}", "score": "{{trigger.score}}", "static": [1, True, None]},
    }
    run = run_workflow(lead, hook(receiver.url_for("/x"), **config))
    assert run.status == Run.Status.SUCCESS, step_error(run)
    [request] = receiver.wait_for_requests(1)
    assert request.method == "PUT" and request.headers["X-Lead-Source"] == "website"
    assert json.loads(request.body) == {"company": "Acme Corp", "score": "9", "static": [1, True, None]}


def test_values_in_the_url_path_are_percent_encoded(crm, receiver):
    lead = crm.lead(Path="../admin/x?y=1#z")
    run = run_workflow(lead, hook(receiver.url_for("/leads/{{trigger.path}}?src={{trigger.source}}")))
    assert run.status == Run.Status.SUCCESS, step_error(run)
    [request] = receiver.wait_for_requests(1)
    # One segment: "/", "?" and "#" are encoded (requests sends %2E as "." again, harmless inside a segment).
    assert request.path == "/leads/..%2Fadmin%2Fx%3Fy%3D1%23z?src=website"


@pytest.mark.parametrize("value", ["..", "."])
def test_a_value_that_would_make_a_dot_segment_is_refused(crm, receiver, value):
    lead = crm.lead(Path=value)
    run = run_workflow(lead, hook(receiver.url_for("/leads/{{trigger.path}}/secret")))
    assert run.status == Run.Status.FAIL and "path segment" in step_error(run)
    assert not receiver.requests


def test_a_value_with_braces_is_not_expanded_again(crm, receiver):
    lead = crm.lead(Source="{{trigger.email}}")
    run = run_workflow(lead, hook(receiver.url, body={"source": "{{trigger.source}}"}))
    assert run.status == Run.Status.SUCCESS
    assert json.loads(receiver.wait_for_requests(1)[0].body) == {"source": "{{trigger.email}}"}


@pytest.mark.parametrize("octet", ["10", "169", "192"])
def test_a_substituted_internal_host_is_refused_by_the_outbound_boundary(crm, octet):
    lead = crm.lead(Octet=octet)
    host = {"10": "{{trigger.octet}}.0.0.1", "169": "{{trigger.octet}}.254.169.254", "192": "{{trigger.octet}}.168.0.1"}
    run = run_workflow(lead, hook(f"http://{host[octet]}/latest/meta-data"))
    assert run.status == Run.Status.FAIL
    assert "not allowed" in step_error(run) or "refused" in step_error(run)
    assert run.step_runs.get().attempts == 1  # a refusal is never retried


def test_header_value_with_line_break_after_substitution_fails(crm, receiver):
    lead = crm.lead(Notes="a\r\nX-Injected: 1")
    run = run_workflow(lead, hook(receiver.url, headers={"X-Note": "{{trigger.notes}}"}))
    assert run.status == Run.Status.FAIL and 'header "X-Note" is invalid' in step_error(run)
    assert not receiver.requests


def test_client_errors_fail_at_once(crm, receiver):
    receiver.set_response(status=404, body=b"no such hook")
    run = run_workflow(crm.lead(), hook(receiver.url))
    assert run.status == Run.Status.FAIL
    assert step_error(run) == "the receiver answered 404: no such hook"
    assert run.step_runs.get().attempts == 1 and len(receiver.requests) == 1


def test_retries_500_then_429_then_a_timeout_then_succeeds_with_one_idempotency_key(crm, settings):
    settings.OUTBOUND_TOTAL_TIMEOUT = 0.5
    count = 0
    lock = threading.Lock()

    def flaky(req):
        nonlocal count
        with lock:
            count += 1
            n = count
        if n == 1:
            return Reply(500, b"boom")
        if n == 2:
            return Reply(429, b"slow down", headers={"Retry-After": "0"})
        if n == 3:
            return hang(req)
        return Reply(200, b'{"ok": true}')

    with Receiver(handler=flaky) as receiver:
        run = start_workflow(crm.lead(), hook(receiver.url_for("/flaky")))
        first = run_execute(run.pk)
        assert first.status == Run.Status.WAITING and first.wake_at is not None
        step = first.step_runs.get()
        assert step.status == "waiting" and "attempt 1 of 5 failed: the receiver answered 500" in step.error
        run = run_to_end(run)
        requests = receiver.wait_for_requests(4)
    assert run.status == Run.Status.SUCCESS, run.errors
    keys = {r.headers["Idempotency-Key"] for r in requests}
    ids = {r.headers["webhook-id"] for r in requests}
    step = run.step_runs.get()
    assert keys == ids == {step.idempotency_key}
    assert len(requests) == 4 and step.attempts == 4
    assert step.output == {"status_code": 200, "attempts": 4}


def test_gives_up_after_max_attempts_naming_the_last_status(crm):
    with Receiver() as receiver:
        receiver.set_response(status=503, body=b"down")
        run = run_to_end(start_workflow(crm.lead(), hook(receiver.url, maxAttempts=3)))
        assert len(receiver.requests) == 3
    assert run.status == Run.Status.FAIL
    assert step_error(run) == "gave up after 3 attempts; the last one failed: the receiver answered 503: down"
    assert run.step_runs.get().attempts == 3


def test_retry_after_http_date_is_honoured_and_capped(crm):
    from email.utils import format_datetime

    from workflows.steps.webhook import MAX_RETRY_AFTER_SECONDS, retry_after_seconds

    soon = format_datetime(timezone.now() + timezone.timedelta(seconds=120), usegmt=True)
    assert 100 < retry_after_seconds({"retry-after": soon}) <= 120
    assert retry_after_seconds({"retry-after": "999999"}) == MAX_RETRY_AFTER_SECONDS
    assert retry_after_seconds({"retry-after": "soon"}) is None
    with Receiver() as receiver:
        receiver.set_response(status=429, headers={"Retry-After": "120"})
        run = run_execute(start_workflow(crm.lead(), hook(receiver.url)).pk)
    assert run.status == Run.Status.WAITING
    assert 115 < (run.wake_at - timezone.now()).total_seconds() <= 120


def test_backoff_is_exponential_with_full_jitter_and_capped(settings):
    from workflows.steps.webhook import MAX_BACKOFF_SECONDS, backoff_seconds

    settings.WEBHOOK_RETRY_BASE_SECONDS = 1.0
    for attempt in range(1, 12):
        delays = [backoff_seconds(attempt) for _ in range(50)]
        assert all(0 <= d <= min(MAX_BACKOFF_SECONDS, 2 ** (attempt - 1)) for d in delays)
    assert max(backoff_seconds(10) for _ in range(200)) > 1  # it grows


def test_connection_refused_is_retried(crm):
    with Receiver() as receiver:
        url = receiver.url
    run = run_to_end(start_workflow(crm.lead(), hook(url, maxAttempts=2)))
    assert run.status == Run.Status.FAIL
    assert step_error(run).startswith("gave up after 2 attempts")


def test_an_answer_over_the_size_limit_still_succeeds_and_the_record_says_it_was_cut(crm, receiver, settings, api):
    settings.OUTBOUND_MAX_RESPONSE_BYTES = 1024
    receiver.set_response(status=200, body=b'{"ok": "' + b"x" * 5000 + b'"}', headers={"Content-Type": "text/plain"})
    run = run_workflow(crm.lead(), hook(receiver.url_for("/hooks/big")))
    assert run.status == Run.Status.SUCCESS, step_error(run)
    data = api(crm.world.admin).get(f"/api/workflows/runs/{run.pk}").json()
    [step] = data["steps"]
    assert step["status"] == "success" and step["outcome"] == {"status_code": 200, "attempts": 1}
    assert step["response"]["truncated"] is True and step["response"]["status_code"] == 200
