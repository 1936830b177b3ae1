"""The dispatcher claims the runs it creates for its process's idle hand thread in the dispatch's
own transaction and hands them over in memory: no claim of their own, no doorbell. Each runs once,
in its task's order; a handed run whose process dies is taken over once its lease expires."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from actions.engine import run_drain, run_sweep, run_wake, runs_handed_execute
from actions.models import Run, StepRun
from tasks.models import Task
from tests.workflows.crm import crm  # noqa: F401  (overrides the conftest fixture)
from tests.workflows.test_dispatch import LEADS, create_lead, workflow
from workflows.dispatch import events_dispatch

pytestmark = pytest.mark.django_db


@pytest.fixture
def rung(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr("actions.engine.run_enqueue", calls.append)
    monkeypatch.setattr("actions.engine._next_drain_check", 0.0)
    return calls


def hand_thread_waits() -> None:
    """What the hand thread does between batches: wait, idle (here: finds no batch and returns)."""
    assert runs_handed_execute() == 0


def dispatch(capture) -> int:
    with capture(execute=True):
        return events_dispatch()


def tags(task_id: int) -> list:
    return Task.objects.get(pk=task_id).tags


def test_a_handed_run_is_claimed_by_the_dispatch_and_executed_once(crm, api, rung, django_capture_on_commit_callbacks):
    wf = workflow(api, crm.world.admin, "lead_created")
    task = create_lead(api(crm.world.admin))
    hand_thread_waits()
    assert dispatch(django_capture_on_commit_callbacks) == 1
    [run] = Run.objects.filter(workflow_id=wf)
    # Claimed in the dispatch's transaction, its first step's record made with it, and rung for by nobody.
    assert run.status == Run.Status.RUNNING and run.lease_owner and run.started_at is not None
    assert StepRun.objects.filter(run=run, status=StepRun.Status.RUNNING).count() == 1
    assert rung == []
    with CaptureQueriesContext(connection) as queries:
        assert runs_handed_execute() == 1
    # No claim of its own: neither the drain's (SKIP LOCKED) nor the one-run claim's locked read.
    assert not [q["sql"] for q in queries if "SKIP LOCKED" in q["sql"] or "FOR UPDATE OF r" in q["sql"]]
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCESS
    assert [(s.status, s.attempts) for s in StepRun.objects.filter(run=run)] == [(StepRun.Status.SUCCESS, 1)]
    assert tags(task["id"]) == ["seen"]
    # Nothing is left for anyone else: no batch, no pending run, a stray doorbell changes nothing.
    assert runs_handed_execute() == 0
    assert run_drain() == 0
    run_wake(run.pk)
    assert [s.attempts for s in StepRun.objects.filter(run=run)] == [1]


def test_a_busy_hand_thread_gets_nothing_and_the_runs_ring(crm, api, rung, django_capture_on_commit_callbacks):
    wf = workflow(api, crm.world.admin, "lead_created")
    client = api(crm.world.admin)
    first = create_lead(client)
    hand_thread_waits()
    dispatch(django_capture_on_commit_callbacks)  # handed, not yet executed: the thread is busy
    second = create_lead(client)
    dispatch(django_capture_on_commit_callbacks)
    handed, other = Run.objects.filter(workflow_id=wf).order_by("pk")
    assert (handed.task_id, handed.status) == (first["id"], Run.Status.RUNNING)
    assert (other.task_id, other.status) == (second["id"], Run.Status.PENDING)
    assert rung == [other.pk]
    assert runs_handed_execute() == 1
    run_wake(other.pk)
    assert set(Run.objects.filter(workflow_id=wf).values_list("status", flat=True)) == {Run.Status.SUCCESS}


def test_handed_runs_keep_their_tasks_order(crm, api, rung, django_capture_on_commit_callbacks):
    """A task's later run is not handed while its earlier one is: it waits its turn, and is rung for
    when the handed run ends. Of two workflows' runs only one workflow's are handed (a drain's batch)."""
    admin = crm.world.admin
    created = workflow(api, admin, "lead_created", name="Created")
    updated = workflow(api, admin, "lead_updated", name="Updated")
    client = api(admin)
    task = create_lead(client)
    assert client.patch(f"{LEADS}/{task['id']}", {"Score": 2}, format="json").status_code == 200
    other = create_lead(client)
    hand_thread_waits()
    assert dispatch(django_capture_on_commit_callbacks) == 3
    runs = list(Run.objects.order_by("pk"))
    assert [(str(r.workflow_id), r.task_id) for r in runs] == [
        (created, task["id"]),
        (updated, task["id"]),
        (created, other["id"]),
    ]
    assert [r.status for r in runs] == [Run.Status.RUNNING, Run.Status.PENDING, Run.Status.RUNNING]
    assert rung == [runs[1].pk]  # rung, and left by a drain until the task's first run ends
    assert run_drain() == 0
    assert runs_handed_execute() == 2
    assert rung[1:] == [runs[1].pk]  # the handed run's end rings for the next on its task
    run_wake(runs[1].pk)
    assert [r.status for r in Run.objects.order_by("pk")] == [Run.Status.SUCCESS] * 3
    first, second = Run.objects.filter(task_id=task["id"]).order_by("pk")
    assert first.finished_at <= second.started_at


def test_a_handed_run_whose_process_died_is_taken_over(crm, api, rung, django_capture_on_commit_callbacks):
    from actions import engine

    wf = workflow(api, crm.world.admin, "lead_created")
    task = create_lead(api(crm.world.admin))
    hand_thread_waits()
    dispatch(django_capture_on_commit_callbacks)
    # The process dies (kill -9) with the batch in memory: nothing of it survives but the lease.
    engine._handed.get_nowait()
    [run] = Run.objects.filter(workflow_id=wf)
    assert run.status == Run.Status.RUNNING
    assert run_sweep() == []  # its lease is live: nobody else takes it yet
    Run.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert run_sweep() == [run.pk]
    run_wake(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCESS
    # The step's record is the one the dispatch made, its attempt counted again (same idempotency id).
    assert [(s.status, s.attempts) for s in StepRun.objects.filter(run=run)] == [(StepRun.Status.SUCCESS, 2)]
    assert tags(task["id"]) == ["seen"]
