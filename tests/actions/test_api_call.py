"""The API Call step end to end: a real loopback receiver, the engine run directly."""

import json
import time

import pytest
from django.test import Client

from actions.engine import run_execute
from actions.models import Run
from actions.services import action_perform
from tasks.models import Notification, Task, TaskEvent
from tasks.services import task_to_json
from tests.actions.conftest import reply_json
from tests.receivers import Receiver, hang, reset_connection
from tests.signatures import assert_signed

pytestmark = pytest.mark.django_db


def perform(seed, action, user=None):
    run = action_perform(action=action, task=seed.task, actor=user or seed.world.flow_member)
    return run_execute(run.pk)


def finish_action(seed, receiver, **extra):
    return seed.action(
        "Finish",
        [
            {"type": "move_to_stage", "config": {"stage": "Completed"}},
            {
                "type": "api_call",
                "config": {
                    "url": receiver.url_for("/finish"),
                    "headers": [
                        {"name": "Authorization", "value": "Bearer s3cr3t-token"},
                        {"name": "X-Team", "value": "ops"},
                    ],
                    **extra,
                },
            },
        ],
    )


def test_exact_request_body_and_headers(seed, receiver):
    action = finish_action(seed, receiver)
    run = perform(seed, action)
    assert run.status == Run.Status.SUCCESS
    [request] = receiver.wait_for_requests(1)
    assert request.method == "POST" and request.path == "/finish"
    body = json.loads(request.body)
    member = seed.world.flow_member
    assert body == {
        "action": "Finish",
        "user": {
            "id": str(member.pk),
            "email": member.email,
            "first_name": member.first_name,
            "last_name": member.last_name,
        },
        "task": {
            "id": seed.task.pk,
            "Stage": "Completed",
            "Assigned To": "flowie@example.com",
            "Company ID": "42",
            "Company Name": "Acme Corp",
            "Number of Employees": "20",
            "Contract Value": "10000",
            "International?": False,
            "Expected Close Date": "2020-01-31",
            "Tags": [],
            "Task URL": body["task"]["Task URL"],
        },
    }
    assert body["task"]["Task URL"].endswith(f"/flows/acme/sales/tasks/{seed.task.pk}")
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer s3cr3t-token"
    assert headers["X-Team"] == "ops"
    step_run = run.step_runs.get(type="api_call")
    assert headers["Idempotency-Key"] == step_run.idempotency_key == headers["webhook-id"]
    assert_signed(request, secret=seed.flow.signing_secret)


def test_success_without_task_object_changes_nothing(seed, receiver):
    receiver.set_response(status=204)
    action = seed.action("Ping", [{"type": "api_call", "config": {"url": receiver.url}}])
    before = task_to_json(task=seed.task)
    run = perform(seed, action)
    assert run.status == Run.Status.SUCCESS
    assert task_to_json(task=Task.objects.get(pk=seed.task.pk)) == before


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'{"ok": true}', b'{"task": null}'])
def test_non_json_or_taskless_2xx_is_success(seed, receiver, body):
    receiver.set_response(status=200, body=body)
    action = seed.action("Ping", [{"type": "api_call", "config": {"url": receiver.url}}])
    assert perform(seed, action).status == Run.Status.SUCCESS


def test_answer_task_object_is_merged(seed, receiver):
    reply_json(receiver, {"task": {"Expected Close Date": "2020-02-01"}})
    action = finish_action(seed, receiver)
    run = perform(seed, action)
    assert run.status == Run.Status.SUCCESS
    task = task_to_json(task=Task.objects.get(pk=seed.task.pk))
    assert task["Expected Close Date"] == "2020-02-01" and task["Stage"] == "Completed"
    event = TaskEvent.objects.filter(task_id=seed.task.pk, source="action").last()
    assert event.changes == {"Expected Close Date": ["2020-01-31", "2020-02-01"]}


@pytest.mark.parametrize(
    "answer,reason",
    [
        ({"task": {"Expected Close Date": "not a date"}}, "Expected Close Date"),
        ({"task": {"No Such Field": "x"}}, "No Such Field"),
        ({"task": {"Number of Employees": "many", "Company Name": "New"}}, "Number of Employees"),
        ({"task": "Completed"}, "must be a JSON object"),
    ],
)
def test_invalid_merge_fails_the_step_and_merges_nothing(seed, receiver, answer, reason):
    reply_json(receiver, answer)
    action = seed.action("Check", [{"type": "api_call", "config": {"url": receiver.url}}])
    before = task_to_json(task=seed.task)
    run = perform(seed, action)
    assert run.status == Run.Status.FAIL
    assert reason in run.errors[0] and "API Call" in run.errors[0]
    assert task_to_json(task=Task.objects.get(pk=seed.task.pk)) == before


def test_non_2xx_aborts_on_that_step_keeps_earlier_changes_and_alerts(seed, receiver):
    receiver.set_response(status=500, body=b"database exploded: s3cr3t-token")
    action = seed.action(
        "Finish",
        [
            {"type": "move_to_stage", "config": {"stage": "Completed"}},
            {
                "type": "api_call",
                "config": {"url": receiver.url, "headers": {"Authorization": "Bearer s3cr3t-token"}},
            },
            {"type": "update_data", "config": {"values": {"Company Name": "Never"}}},
        ],
    )
    run = perform(seed, action)
    assert run.status == Run.Status.FAIL
    assert run.errors == ["Step 2 (API Call) failed: the API answered 500: database exploded: [redacted]"]
    task = task_to_json(task=Task.objects.get(pk=seed.task.pk))
    assert task["Stage"] == "Completed" and task["Company Name"] == "Acme Corp"
    statuses = [(sr.type, sr.status) for sr in run.step_runs.order_by("id")]
    assert statuses == [("move_to_stage", "success"), ("api_call", "fail")]
    step = run.step_runs.get(type="api_call")
    assert step.response["status_code"] == 500
    note = Notification.objects.get(user=seed.world.flow_member, kind="action_failed")
    assert "Step 2 (API Call) failed" in note.message
    # The alert leads to the run, which shows what each step sent and got back.
    assert note.url == f"/flows/acme/sales/runs/{run.pk}"
    browser = Client()
    browser.force_login(seed.world.flow_member)
    page = browser.get(note.url)
    assert page.status_code == 200 and "database exploded" in page.content.decode()


def test_redirect_is_a_failure(seed):
    with Receiver() as receiver:
        receiver.set_response(status=302, headers={"Location": "http://127.0.0.1:1/"})
        action = seed.action("Go", [{"type": "api_call", "config": {"url": receiver.url}}])
        run = perform(seed, action)
        assert run.status == Run.Status.FAIL and "answered 302" in run.errors[0]
        assert len(receiver.wait_for_requests(1)) == 1


def test_timeout_is_a_failure(seed, settings):
    settings.OUTBOUND_TOTAL_TIMEOUT = 0.5
    with Receiver(handler=hang) as receiver:
        action = seed.action("Slow", [{"type": "api_call", "config": {"url": receiver.url}}])
        started = time.monotonic()
        run = perform(seed, action)
        assert time.monotonic() - started < 5
    assert run.status == Run.Status.FAIL and "timed out" in run.errors[0]


def test_connection_refused_and_reset_are_failures(seed):
    with Receiver() as receiver:
        closed_url = receiver.url
    action = seed.action("Closed", [{"type": "api_call", "config": {"url": closed_url}}])
    run = perform(seed, action)
    assert run.status == Run.Status.FAIL and "refused" in run.errors[0]
    with Receiver(handler=reset_connection) as receiver:
        action = seed.action("Reset", [{"type": "api_call", "config": {"url": receiver.url}}])
        run = perform(seed, action)
    assert run.status == Run.Status.FAIL


def test_dns_failure_is_a_failure(seed, monkeypatch):
    import socket

    from flowsite import outbound

    def fail(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(outbound, "resolve_host", fail)
    action = seed.action("Dns", [{"type": "api_call", "config": {"url": "http://api.customer.test/hook"}}])
    run = perform(seed, action)
    assert run.status == Run.Status.FAIL and "api.customer.test" in run.errors[0]


def test_refused_address_says_why(seed, settings, receiver):
    action = seed.action("Meta", [{"type": "api_call", "config": {"url": receiver.url}}])
    # Saved while the operator allowed loopback; the policy narrowed before the run.
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    run = perform(seed, action)
    assert run.status == Run.Status.FAIL
    assert "address 127.0.0.1 is not allowed" in run.errors[0]
    assert receiver.requests == []


def test_secrets_absent_from_every_trace(seed, receiver, api):
    receiver.set_response(status=500, body=b"echo: Bearer s3cr3t-token and my-custom-secret")
    action = seed.action(
        "Secret",
        [
            {
                "type": "api_call",
                "config": {
                    "url": receiver.url,
                    "headers": [
                        {"name": "Authorization", "value": "Bearer s3cr3t-token"},
                        {"name": "X-Custom", "value": "my-custom-secret", "secret": True},
                    ],
                },
            }
        ],
    )
    run = perform(seed, action)
    traces = [
        json.dumps(list(Run.objects.filter(pk=run.pk).values())[0], default=str),
        json.dumps(list(run.step_runs.values()), default=str),
        api(seed.world.admin).get(f"/api/flows/acme/sales/executions/{run.pk}").content.decode(),
        api(seed.world.admin).get(f"/api/flows/acme/sales/actions/{action.pk}").content.decode(),
        json.dumps(list(Notification.objects.values()), default=str),
    ]
    for trace in traces:
        assert "s3cr3t-token" not in trace and "my-custom-secret" not in trace
    assert receiver.requests[0].headers["X-Custom"] == "my-custom-secret"


def test_each_step_records_outcome_and_timing(seed, receiver, api):
    action = finish_action(seed, receiver)
    run = perform(seed, action)
    data = api(seed.world.admin).get(f"/api/flows/acme/sales/executions/{run.pk}").json()
    assert data["status"] == "Success"
    assert [s["type"] for s in data["steps"]] == ["move_to_stage", "api_call"]
    for step in data["steps"]:
        assert step["status"] == "success" and step["attempts"] == 1 and step["duration_ms"] >= 0
        assert step["started_at"] and step["finished_at"]


def task_answer_of_size(size: int) -> bytes:
    """A 2xx answer carrying a task change, padded with spaces (still valid JSON) to `size` bytes."""
    body = json.dumps({"task": {"Company Name": "Changed by the API"}}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def test_an_answer_over_the_size_limit_fails_alerts_and_changes_nothing(seed, receiver, api, settings):
    settings.OUTBOUND_MAX_RESPONSE_BYTES = 2048
    receiver.set_response(status=200, body=task_answer_of_size(5000), headers={"Content-Type": "application/json"})
    action = seed.action("Check", [{"type": "api_call", "config": {"url": receiver.url}}])
    before = task_to_json(task=seed.task)
    client = api(seed.world.flow_member)
    response = client.post("/api/flows/acme/sales/executions", {"task_id": "42", "action_id": action.pk}, format="json")
    assert response.status_code == 201
    run_execute(response.json()["id"])
    data = client.get(f"/api/flows/acme/sales/executions/{response.json()['id']}").json()
    assert data["status"] == "Fail"
    [error] = data["errors"]
    assert "Step 1 (API Call) failed" in error and "2048-byte response limit" in error
    assert "the task was not changed" in error
    assert task_to_json(task=Task.objects.get(pk=seed.task.pk)) == before
    step = Run.objects.get(pk=response.json()["id"]).step_runs.get()
    assert step.status == "fail" and step.response["truncated"] is True and step.response["status_code"] == 200
    note = Notification.objects.get(user=seed.world.flow_member, kind="action_failed")
    assert "2048-byte response limit" in note.message


def test_an_answer_exactly_at_the_size_limit_is_read_and_merged(seed, receiver, settings):
    settings.OUTBOUND_MAX_RESPONSE_BYTES = 2048
    receiver.set_response(status=200, body=task_answer_of_size(2048), headers={"Content-Type": "application/json"})
    action = seed.action("Check", [{"type": "api_call", "config": {"url": receiver.url}}])
    run = perform(seed, action)
    assert run.status == Run.Status.SUCCESS, run.errors
    assert task_to_json(task=Task.objects.get(pk=seed.task.pk))["Company Name"] == "Changed by the API"


def test_an_answer_whose_run_was_taken_over_during_the_call_changes_nothing(seed, receiver, monkeypatch):
    """Another worker took the run over while its call was out (its lease expired): the answer's
    task changes are not kept (PostgreSQL applies them and rolls them back with the record that finds
    the lease gone; elsewhere the move finds it first) and no event is recorded; the run is the new
    owner's."""
    from actions.steps import http

    reply_json(receiver, {"task": {"Company Name": "Changed"}})
    send = http.signed_send

    def send_then_lose_the_lease(**kwargs):
        sent = send(**kwargs)
        Run.objects.filter(status=Run.Status.RUNNING).update(lease_owner="another worker")
        return sent

    monkeypatch.setattr(http, "signed_send", send_then_lose_the_lease)
    action = seed.action("Check", [{"type": "api_call", "config": {"url": receiver.url}}])
    before = task_to_json(task=seed.task)
    events = TaskEvent.objects.count()
    run = perform(seed, action)
    assert (run.status, run.lease_owner) == (Run.Status.RUNNING, "another worker")
    assert task_to_json(task=Task.objects.get(pk=seed.task.pk)) == before
    assert TaskEvent.objects.count() == events
    assert run.step_runs.get().status == "running"


def test_the_step_after_a_call_gets_the_task_as_changed_during_the_call(seed, receiver, monkeypatch):
    """A step that changes nothing hands on no task: the next step's task is read with its record
    (PostgreSQL: in the same statement), after the call, so a change made meanwhile is in it."""
    from actions.steps import http
    from tasks.services import task_update

    send = http.signed_send
    sent = []

    def send_while_someone_edits(**kwargs):
        answer = send(**kwargs)
        if not sent:
            task = Task.objects.get(pk=seed.task.pk)
            task_update(task=task, actor=None, data={"Company Name": "Edited"}, source="api")
        sent.append(answer)
        return answer

    monkeypatch.setattr(http, "signed_send", send_while_someone_edits)
    action = seed.action(
        "Twice",
        [
            {"type": "api_call", "config": {"url": receiver.url_for("/one")}},
            {"type": "api_call", "config": {"url": receiver.url_for("/two")}},
        ],
    )
    run = perform(seed, action)
    assert run.status == Run.Status.SUCCESS
    first, second = receiver.wait_for_requests(2)
    assert json.loads(first.body)["task"]["Company Name"] == "Acme Corp"
    assert json.loads(second.body)["task"]["Company Name"] == "Edited"
