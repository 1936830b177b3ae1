"""Task events are the workflows' outbox: a write records them and rings; the dispatcher (a worker's
job) matches them and starts the runs, exactly once, in order per task, a failure marked on the event
and on the workflow's runs, never on the write."""

import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_q.models import OrmQ

from actions.models import Run
from tasks.models import Task, TaskEvent
from tasks.services import task_update
from tests.workflows.conftest import dispatch_events
from tests.workflows.crm import crm  # noqa: F401  (overrides the conftest fixture)
from workflows import dispatch
from workflows.dispatch import events_dispatch, events_pending
from workflows.jobs import dispatch_loop
from workflows.models import Workflow, WorkflowAction

pytestmark = pytest.mark.django_db

LEADS = "/api/flows/acme/leads/tasks"


def workflow(api, admin, trigger, filters=None, name=None) -> str:
    response = api(admin).post(
        "/api/workflows",
        {
            "name": name or f"On {trigger}",
            "triggerModule": "leads",
            "triggerType": trigger,
            "triggerFilters": filters or {},
            "actions": [{"actionType": "add_tag", "config": {"tag": "seen"}}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def create_lead(client, **data) -> dict:
    response = client.post(LEADS, {"Company Name": "Acme", **data}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_task_write_matches_no_workflow_and_only_rings(crm, api, django_capture_on_commit_callbacks):
    wf = workflow(api, crm.world.admin, "lead_created")
    client = api(crm.world.admin)
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        task = create_lead(client)
    # The request read no workflow and started nothing: its event waits in the outbox.
    assert not [q["sql"] for q in queries if "workflows_" in q["sql"]]
    assert not Run.objects.exists()
    event = TaskEvent.objects.get(task_id=task["id"])
    assert event.dispatched_at is None
    # Nor did it queue anything: the workers' dispatcher threads find it in the outbox.
    assert not OrmQ.objects.exists()
    assert events_pending()

    assert dispatch_events() == 1
    [run] = Run.objects.filter(workflow_id=wf)
    assert run.task_id == task["id"] and run.context["event"]["id"] == event.pk
    event.refresh_from_db()
    assert event.dispatched_at is not None and event.dispatch_error == ""
    # Exactly once: a second dispatcher (or a second doorbell) finds nothing to do.
    assert dispatch_events() == 0
    assert Run.objects.filter(workflow_id=wf).count() == 1


def test_runs_start_in_the_order_of_their_events(crm, api):
    wf = workflow(api, crm.world.admin, "lead_updated")
    client = api(crm.world.admin)
    first, second = create_lead(client, Score=1), create_lead(client, Score=1)
    dispatch_events()  # the creations: no workflow listens to them
    for score in (2, 3):
        for task in (first, second):
            assert client.patch(f"{LEADS}/{task['id']}", {"Score": score}, format="json").status_code == 200
    assert events_dispatch(batch=3) == 4  # in batches smaller than the backlog
    runs = list(Run.objects.filter(workflow_id=wf).order_by("pk"))
    events = list(TaskEvent.objects.filter(kind="updated").order_by("pk"))
    assert [run.context["event"]["id"] for run in runs] == [event.pk for event in events]
    assert [run.context["new"] for run in runs] == [{"Score": "2"}, {"Score": "2"}, {"Score": "3"}, {"Score": "3"}]


def _raise_on(value):
    """evaluate, except that a filter comparing with `value` raises, as a bug in matching would."""
    real = dispatch.evaluate

    def evaluate(filter_obj, **kwargs):
        if any(c.get("value") == value for c in (filter_obj or {}).get("conditions", [])):
            raise ValueError("cannot compare with a broken value")
        return real(filter_obj, **kwargs)

    return evaluate


def test_a_filter_that_raises_fails_its_workflow_visibly_and_holds_up_nothing(crm, api, monkeypatch):
    monkeypatch.setattr("workflows.dispatch.evaluate", _raise_on("boom"))
    admin = crm.world.admin
    healthy = workflow(api, admin, "lead_created", name="Healthy")
    broken = workflow(
        api,
        admin,
        "lead_created",
        {"logic": "AND", "conditions": [{"field": "Source", "operator": "equals", "value": "boom"}]},
        name="Broken",
    )
    client = api(admin)
    # The write knows nothing of it: committed and answered 201.
    first = create_lead(client)
    second = create_lead(client)
    assert dispatch_events() == 2

    for task in (first, second):
        event = TaskEvent.objects.get(task_id=task["id"])
        assert event.dispatched_at is not None
        assert event.dispatch_error == (
            'Workflow "Broken": matching its filters failed: ValueError: cannot compare with a broken value'
        )
    # The healthy workflow ran for both events; the broken one has a failed run per event, which its
    # owner sees with its runs (API and page), saying why.
    assert [r.task_id for r in Run.objects.filter(workflow_id=healthy).order_by("pk")] == [first["id"], second["id"]]
    listed = client.get(f"/api/workflows/{broken}/runs").json()["data"]
    assert [(r["status"], r["errors"]) for r in listed] == [
        ("fail", ["Not started: matching its filters failed: ValueError: cannot compare with a broken value"])
    ] * 2
    browser = Client()
    browser.force_login(admin)
    page = browser.get(f"/organizations/acme/workflows/runs/{listed[0]['id']}")
    assert page.status_code == 200
    assert "Not started: matching its filters failed: ValueError" in page.content.decode()
    # A run that never started has no step to go again from: no Retry button, and retrying says so.
    assert "/retry" not in page.content.decode()
    retried = client.post(f"/api/workflows/runs/{listed[0]['id']}/retry")
    assert retried.status_code == 400
    assert retried.json()["errors"] == {"status": ["This run never started, so there is no step to retry."]}
    assert Run.objects.get(pk=listed[0]["id"]).status == Run.Status.FAIL


def test_an_event_that_cannot_be_dispatched_is_marked_and_the_others_go_on(crm, api, monkeypatch):
    wf = workflow(api, crm.world.admin, "lead_created")
    client = api(crm.world.admin)
    tasks = [create_lead(client, Source=source) for source in ("web", "poison", "referral")]
    real = dispatch._triggered

    def triggered(event):
        if event.task is not None and event.task.data and "poison" in str(event.changes):
            raise KeyError("a bug in matching")
        return real(event)

    monkeypatch.setattr("workflows.dispatch._triggered", triggered)
    assert dispatch_events() == 3
    events = {e.task_ref: e for e in TaskEvent.objects.all()}
    assert [events[t["id"]].dispatch_error for t in tasks] == [
        "",
        "Dispatching this event failed: KeyError: 'a bug in matching'",
        "",
    ]
    assert all(e.dispatched_at is not None for e in events.values())
    assert [r.task_id for r in Run.objects.filter(workflow_id=wf).order_by("pk")] == [tasks[0]["id"], tasks[2]["id"]]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: SQLite has one writer at a time")
def test_a_later_event_waits_while_another_worker_holds_its_tasks_earlier_one(crm, api):
    """Two dispatchers at once (SKIP LOCKED): one holds task A's first event; the other takes
    what it can (task B) and leaves A's second event, so A's runs start in their events' order."""
    wf = workflow(api, crm.world.admin, "lead_updated")
    client = api(crm.world.admin)
    a, b = create_lead(client), create_lead(client)
    dispatch_events()
    for task, name in ((a, "A1"), (b, "B1"), (a, "A2")):
        task_update(task=Task.objects.get(pk=task["id"]), actor=None, data={"Company Name": name})
    a1, b1, a2 = TaskEvent.objects.filter(kind="updated").order_by("pk")
    held, release = threading.Event(), threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                list(TaskEvent.objects.select_for_update().filter(pk=a1.pk))
                held.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert held.wait(10)
        assert events_dispatch() == 1
        assert list(TaskEvent.objects.filter(dispatched_at__isnull=True).order_by("pk")) == [a1, a2]
        assert [r.context["event"]["id"] for r in Run.objects.filter(workflow_id=wf)] == [b1.pk]
    finally:
        release.set()
        thread.join()
    assert events_dispatch() == 2
    runs = Run.objects.filter(workflow_id=wf).order_by("pk")
    assert [r.context["event"]["id"] for r in runs] == [b1.pk, a1.pk, a2.pk]


@pytest.mark.django_db(transaction=True)
def test_a_workers_dispatcher_thread_starts_the_runs_of_committed_writes_by_itself(crm, api):
    """No job, no ring: the thread every worker process runs takes events as they commit, once each
    (two threads at once here, as two worker processes would run). Order is promised per task only:
    two dispatchers may insert the runs of different tasks in either order."""
    wf = workflow(api, crm.world.admin, "lead_created")
    client = api(crm.world.admin)
    stop = threading.Event()
    threads = [threading.Thread(target=_loop_then_close, args=(stop,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        tasks = [create_lead(client) for _ in range(5)]
        deadline = time.monotonic() + 10
        while Run.objects.filter(workflow_id=wf).count() < len(tasks) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    runs = Run.objects.filter(workflow_id=wf)
    assert sorted(run.task_id for run in runs) == sorted(task["id"] for task in tasks)
    assert not events_pending()
    # The queue holds the runs' doorbells only.
    assert {message.task["func"] for message in OrmQ.objects.all()} <= {"actions.jobs.run_wake"}


def _loop_then_close(stop: threading.Event) -> None:
    try:
        dispatch_loop(stop)
    finally:
        connection.close()


def test_the_dispatchers_cached_workflows_change_with_every_workflow_write(crm, api):
    """A flow's active workflows are kept per process under a version that triggers replace with
    every write to workflows and their actions, so the next dispatch matches what was just written."""
    client = api(crm.world.admin)
    first = workflow(api, crm.world.admin, "lead_created", name="First")
    create_lead(client)
    assert dispatch_events() == 1  # the cache holds [First] now
    second = workflow(api, crm.world.admin, "lead_created", name="Second")
    Workflow.objects.filter(pk=first).update(is_active=False)  # a queryset update: no signal
    create_lead(client)
    dispatch_events()
    assert Run.objects.filter(workflow_id=first).count() == 1
    assert Run.objects.filter(workflow_id=second).count() == 1
    # An action edited in place is the program the next run gets.
    WorkflowAction.objects.filter(workflow_id=second).update(config={"tag": "fresh"})
    create_lead(client)
    dispatch_events()
    newest = Run.objects.filter(workflow_id=second).latest("pk")
    assert newest.program[0]["config"] == {"tag": "fresh"}
