"""A commit that starts many runs rings for a few; a worker drains the rest from the table."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from actions.engine import run_build, run_drain, run_execute, runs_create
from actions.models import Run
from tasks.services import task_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def rung(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr("actions.engine.run_enqueue", calls.append)
    monkeypatch.setattr("actions.engine._next_drain_check", 0.0)
    return calls


@pytest.fixture
def start(seed, django_capture_on_commit_callbacks):
    def start(tasks, note="drained"):
        program = [{"id": "s", "type": "update_data", "config": {"values": {"Company Name": note}}}]
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            return runs_create(
                [run_build(kind="workflow", flow=seed.flow, task=task, name="Bulk", program=program) for task in tasks]
            )

    return start


def more_tasks(seed, count):
    return [
        task_create(flow=seed.flow, actor=seed.world.admin, data={"Company ID": f"c{i}", "Company Name": f"C{i}"})
        for i in range(count)
    ]


def test_a_commit_rings_for_its_first_runs_only_and_a_worker_drains_them_all(seed, start, rung, settings):
    settings.RUN_DOORBELLS_PER_COMMIT = 2
    tasks = more_tasks(seed, 5)
    runs = start(tasks)
    assert [run.pk for run in runs] == sorted(run.pk for run in runs)  # ids in the order given
    assert rung == [runs[0].pk, runs[1].pk]
    assert run_drain() == 5
    assert set(Run.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", flat=True)) == {"success"}
    assert [current(task)["Company Name"] for task in tasks] == ["drained"] * 5
    assert run_drain() == 0  # nothing left; and the next look waits a moment (no query per job when idle)


def current(task):
    from tasks.models import Task
    from tasks.services import task_to_json

    return task_to_json(task=Task.objects.get(pk=task.pk))


def test_runs_on_one_task_drain_in_order(seed, start, rung):
    first = start([seed.task], note="first")[0]
    second = start([seed.task], note="second")[0]
    assert run_drain() == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.started_at <= second.started_at and current(seed.task)["Company Name"] == "second"


def test_a_run_another_run_on_its_task_holds_is_left_for_later(seed, start, rung):
    busy = start([seed.task])[0]
    Run.objects.filter(pk=busy.pk).update(
        status=Run.Status.RUNNING, lease_owner="elsewhere", lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    waiting = start([seed.task])[0]
    assert run_drain() == 0
    waiting.refresh_from_db()
    assert waiting.status == Run.Status.PENDING


def test_a_drain_out_of_time_rings_for_the_rest(seed, start, rung):
    runs = start(more_tasks(seed, 3))
    rung.clear()
    assert run_drain(budget_seconds=0) == 0
    assert len(rung) == 1 and rung[0] in {run.pk for run in runs}
    assert Run.objects.filter(pk__in=[r.pk for r in runs], status=Run.Status.PENDING).count() == 3


def test_due_waits_go_ahead_of_pending_runs(seed, start, rung, monkeypatch):
    monkeypatch.setattr("actions.engine._next_due_check", 0.0)
    program = [{"id": "w", "type": "wait", "config": {"duration": 1, "unit": "seconds"}}]
    with transaction.atomic():
        [waiting] = runs_create([run_build(kind="workflow", flow=seed.flow, task=seed.task, name="W", program=program)])
    run_execute(waiting.pk)
    Run.objects.filter(pk=waiting.pk).update(wake_at=timezone.now() - timedelta(seconds=1))
    pending = start(more_tasks(seed, 3))
    assert run_drain() == 4
    waiting.refresh_from_db()
    first_start = min(Run.objects.filter(pk__in=[r.pk for r in pending]).values_list("started_at", flat=True))
    assert waiting.status == "success" and waiting.finished_at <= first_start
