"""A commit that starts many runs rings for a few; a worker drains the rest from the table."""

import json
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


def test_a_batch_claims_runs_of_one_workflow_and_only_the_first_on_a_task(seed, start):
    from actions.engine import runs_claim

    tasks = more_tasks(seed, 4)
    first = start(tasks[:3])  # one run on each task
    later = start([tasks[0]])[0]  # a second run on the first task: it waits its turn
    other = start([tasks[3]])[0]
    action = seed.action("Other", [{"type": "update_data", "config": {"values": {"Company Name": "x"}}}])
    Run.objects.filter(pk=other.pk).update(kind=Run.Kind.ACTION, action=action)  # another action's run

    claimed = runs_claim([later.pk, other.pk, *[r.pk for r in first]], "me", limit=8)
    assert [run.pk for run in claimed] == [r.pk for r in first]
    assert set(Run.objects.filter(pk__in=[r.pk for r in first]).values_list("status", "lease_owner")) == {
        ("running", "me")
    }
    assert Run.objects.get(pk=later.pk).status == Run.Status.PENDING
    assert Run.objects.get(pk=other.pk).status == Run.Status.PENDING
    # Each claimed run's first step is recorded as started, ready for the worker.
    assert all(run.next_step_run.path == "0" and run.next_step_run.attempts == 1 for run in claimed)
    # Saved, each under the id it was handed (PostgreSQL inserts them with the claim's UPDATE).
    from actions.models import StepRun

    for claim in claimed:
        assert StepRun.objects.get(pk=claim.next_step_run.pk).run_id == claim.pk
    assert runs_claim([r.pk for r in first], "someone else", limit=8) == []  # not pending any more


def test_a_batch_takes_at_most_its_limit(seed, start):
    from actions.engine import runs_claim

    runs = start(more_tasks(seed, 4))
    assert [run.pk for run in runs_claim([r.pk for r in runs], "me", limit=3)] == [r.pk for r in runs[:3]]


def test_runs_handed_back_are_as_if_never_claimed(seed, start):
    from actions.engine import _hand_back, run_execute, runs_claim
    from actions.models import StepRun

    runs = start(more_tasks(seed, 2))
    claimed = runs_claim([r.pk for r in runs], "me", limit=8)
    _hand_back(claimed, "me")
    for run in Run.objects.filter(pk__in=[r.pk for r in runs]):
        assert (run.status, run.lease_owner, run.lease_expires_at, run.started_at) == ("pending", "", None, None)
    assert not StepRun.objects.filter(run__in=runs).exists()
    run_execute(runs[0].pk)
    assert StepRun.objects.get(run=runs[0]).attempts == 1  # the first real attempt counts as the first


def test_a_drain_hands_back_what_it_has_not_started_when_its_batch_runs_long(seed, start, rung, monkeypatch):
    monkeypatch.setattr("actions.engine.DRAIN_BATCH_SECONDS", 0.0)
    runs = start(more_tasks(seed, 3))
    # With no time per batch, each batch runs its first run and gives the rest back; the drain
    # takes them again in the next batch, so all finish, one claim each, no attempt counted twice.
    assert run_drain() == 3
    from actions.models import StepRun

    assert set(Run.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", flat=True)) == {"success"}
    assert list(StepRun.objects.filter(run__in=runs).values_list("attempts", flat=True)) == [1, 1, 1]


def test_a_drained_batch_of_webhooks_ends_together_in_few_statements(seed, rung, django_capture_on_commit_callbacks):
    """Each run is delivered once, under its own idempotency id, and recorded with what went out and
    came back; the batch's runs end in one transaction, so a run costs a couple of statements."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from actions.models import StepRun
    from tests.receivers import Receiver

    with Receiver() as receiver:
        program = [{"id": "hook", "type": "webhook", "config": {"url": receiver.url, "maxAttempts": 1}}]
        tasks = more_tasks(seed, 16)
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            runs = runs_create(
                [run_build(kind="workflow", flow=seed.flow, task=task, name="Hook", program=program) for task in tasks]
            )
        with CaptureQueriesContext(connection) as statements:
            assert run_drain() == 16
        requests = receiver.wait_for_requests(16)
    keys = sorted(request.headers["Idempotency-Key"] for request in requests)
    assert keys == sorted(f"run_{run.pk}_step_0" for run in runs)
    # Each run sent its own task, read with the batch's others.
    sent = {request.headers["Idempotency-Key"]: json.loads(request.body)["task"] for request in requests}
    for run, task in zip(runs, tasks, strict=True):
        assert (sent[f"run_{run.pk}_step_0"]["id"], sent[f"run_{run.pk}_step_0"]["Company ID"]) == (
            task.pk,
            current(task)["Company ID"],
        )
    ended = Run.objects.filter(pk__in=[r.pk for r in runs])
    assert [(run.status, run.cursor, run.lease_owner) for run in ended] == [("success", [1], "")] * 16
    records = StepRun.objects.filter(run__in=runs)
    assert {(r.status, r.response["status_code"], r.request["headers"]["Idempotency-Key"]) for r in records} == {
        ("success", 200, f"run_{run.pk}_step_0") for run in runs
    }
    assert all(record.finished_at and record.duration_ms is not None for record in records)
    assert len(statements) <= 3 * 16, [q["sql"][:80] for q in statements.captured_queries]


def test_a_batch_records_nothing_for_a_run_whose_lease_went_elsewhere(seed, start):
    from actions.engine import _Batch, runs_claim
    from actions.models import StepRun

    runs = start(more_tasks(seed, 2))
    claims = runs_claim([r.pk for r in runs], "me", limit=8)
    batch = _Batch(claims, read_tasks=True)
    for claim in claims:
        batch.end(claim, claim.next_step_run, [1], None, None)
    # The second run's lease expired and another worker took it over meanwhile.
    Run.objects.filter(pk=runs[1].pk).update(lease_owner="another worker")
    batch.record()
    assert Run.objects.get(pk=runs[0].pk).status == Run.Status.SUCCESS
    assert (Run.objects.get(pk=runs[1].pk).status, Run.objects.get(pk=runs[1].pk).lease_owner) == (
        Run.Status.RUNNING,
        "another worker",
    )
    assert StepRun.objects.get(run=runs[0]).status == StepRun.Status.SUCCESS
    assert StepRun.objects.get(run=runs[1]).status == StepRun.Status.RUNNING  # its owner records it


def test_due_waits_are_claimed_and_ended_in_batches(seed, rung, monkeypatch):
    """Many waits falling due at once end in a handful of statements, not a dozen each."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from actions.models import StepRun

    # A minute, not a second: a drain slower than the wait (a loaded machine) would end the first
    # waits itself. The test moves wake_at into the past when it wants them due.
    program = [{"id": "w", "type": "wait", "config": {"duration": 60, "unit": "seconds"}}]
    tasks = more_tasks(seed, 40)
    with transaction.atomic():
        runs = runs_create(
            [run_build(kind="workflow", flow=seed.flow, task=task, name="W", program=program) for task in tasks]
        )
    assert run_drain() == 40
    assert set(Run.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", flat=True)) == {"waiting"}
    not_yet = runs_create([run_build(kind="workflow", flow=seed.flow, task=seed.task, name="W", program=program)])[0]
    run_execute(not_yet.pk)  # waits a minute from now: not due
    Run.objects.filter(pk__in=[r.pk for r in runs]).update(wake_at=timezone.now() - timedelta(seconds=1))
    monkeypatch.setattr("actions.engine._next_due_check", 0.0)
    before = timezone.now()
    with CaptureQueriesContext(connection) as statements:
        from actions.engine import run_due

        assert run_due() == 40
    assert len(statements) <= 20, [q["sql"][:80] for q in statements.captured_queries]
    assert [(run.status, run.cursor) for run in Run.objects.filter(pk__in=[r.pk for r in runs])] == [
        ("success", [1])
    ] * 40
    waits = StepRun.objects.filter(run__in=runs)
    assert {(w.status, w.attempts) for w in waits} == {(StepRun.Status.SUCCESS, 1)}
    assert all(w.finished_at >= before for w in waits)  # each ended as its batch took it
    assert Run.objects.get(pk=not_yet.pk).status == Run.Status.WAITING


def test_a_due_batch_takes_one_run_per_task(seed, rung, monkeypatch):
    """Two runs on one task waiting for the same moment: the batch takes the first, the next the second."""
    from actions.engine import runs_claim

    program = [{"id": "w", "type": "wait", "config": {"duration": 1, "unit": "seconds"}}]
    with transaction.atomic():
        runs = runs_create(
            [run_build(kind="workflow", flow=seed.flow, task=seed.task, name="W", program=program) for _ in range(2)]
        )
    run_execute(runs[0].pk)
    run_execute(runs[1].pk)
    Run.objects.filter(pk__in=[r.pk for r in runs]).update(wake_at=timezone.now() - timedelta(seconds=1))
    [claim] = runs_claim([r.pk for r in runs], "me", limit=8, due=True)
    assert claim.pk == runs[0].pk and claim.step_run.path == "0" and claim.step_run.status == "waiting"
    assert Run.objects.get(pk=runs[1].pk).status == Run.Status.WAITING


def test_due_waits_handed_back_wait_again_and_are_taken_next_time(seed, rung, monkeypatch):
    from actions.engine import _hand_back, run_due, runs_claim

    program = [{"id": "w", "type": "wait", "config": {"duration": 1, "unit": "seconds"}}]
    with transaction.atomic():
        runs = runs_create(
            [run_build(kind="workflow", flow=seed.flow, task=t, name="W", program=program) for t in more_tasks(seed, 2)]
        )
    assert run_drain() == 2
    due_at = timezone.now() - timedelta(seconds=1)
    Run.objects.filter(pk__in=[r.pk for r in runs]).update(wake_at=due_at)
    claims = runs_claim([r.pk for r in runs], "me", limit=8, due=True)
    _hand_back(claims, "me")
    assert set(Run.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", "lease_owner", "wake_at")) == {
        ("waiting", "", due_at)
    }
    monkeypatch.setattr("actions.engine._next_due_check", 0.0)
    assert run_due() == 2
    assert set(Run.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", flat=True)) == {"success"}


def test_a_doorbell_joins_the_drain_while_runs_are_pending(seed, rung, django_capture_on_commit_callbacks):
    """The runs a commit rang for are claimed and ended with a batch's others, not each alone: a
    doorbell for one of them drains them all through batch claims."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from actions.engine import run_wake
    from tests.receivers import Receiver

    with Receiver() as receiver:
        program = [{"id": "hook", "type": "webhook", "config": {"url": receiver.url, "maxAttempts": 1}}]
        tasks = more_tasks(seed, 12)
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            runs = runs_create(
                [run_build(kind="workflow", flow=seed.flow, task=task, name="Hook", program=program) for task in tasks]
            )
        with CaptureQueriesContext(connection) as statements:
            run_wake(runs[3].pk)
        requests = receiver.wait_for_requests(12)
    assert sorted(request.headers["Idempotency-Key"] for request in requests) == sorted(
        f"run_{run.pk}_step_0" for run in runs
    )
    assert set(Run.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", flat=True)) == {"success"}
    single_claims = [
        q["sql"]
        for q in statements.captured_queries
        if "FROM actions_run WHERE id = " in q["sql"] or "r.performed_by_id WHERE r.id = " in q["sql"]
    ]
    assert single_claims == []
    assert len(statements) <= 3 * 12


def test_a_doorbell_for_a_run_the_drain_cannot_take_claims_it_alone(seed, start, rung):
    """A run whose worker died (its lease expired) is not pending, so no drain takes it: its doorbell
    takes it over through the one-run claim."""
    from actions.engine import run_wake

    run = start([seed.task], note="taken over")[0]
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING, lease_owner="dead", lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    run_wake(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCESS and current(seed.task)["Company Name"] == "taken over"


def test_the_step_after_a_task_change_gets_the_task_as_written_without_reading_it(seed, rung):
    """A step that changed the task hands it on: the next step sees the change, and the task is read
    once before the first step (and under lock by the change), not again before the second."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.receivers import Receiver

    with Receiver() as receiver:
        program = [
            {"id": "set", "type": "update_data", "config": {"values": {"Company Name": "Written"}}},
            {"id": "hook", "type": "webhook", "config": {"url": receiver.url, "maxAttempts": 1}},
        ]
        with transaction.atomic():
            run = runs_create(
                [run_build(kind="workflow", flow=seed.flow, task=seed.task, name="Two", program=program)]
            )[0]
        with CaptureQueriesContext(connection) as statements:
            run_execute(run.pk)
        [request] = receiver.wait_for_requests(1)
    assert json.loads(request.body)["task"]["Company Name"] == "Written"
    task_reads = [
        q["sql"]
        for q in statements.captured_queries
        if 'FROM "tasks_task"' in q["sql"] or "FROM tasks_task" in q["sql"]
    ]
    # The claim's locked read (the task step 1 gets) and the change's lock.
    assert len(task_reads) == 2, task_reads


def test_a_one_step_call_claimed_alone_costs_few_statements(seed, rung):
    """The hop: on PostgreSQL the claim records the first step with the run's UPDATE, and the step's
    completion is one statement, atomic by itself (no BEGIN and COMMIT of its own)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.receivers import Receiver

    with Receiver() as receiver:
        program = [{"id": "call", "type": "api_call", "config": {"url": receiver.url}}]
        with transaction.atomic():
            run = runs_create([run_build(kind="action", flow=seed.flow, task=seed.task, name="Hop", program=program)])[
                0
            ]
        with CaptureQueriesContext(connection) as statements:
            run_execute(run.pk, reload=False)
        receiver.wait_for_requests(1)
    assert Run.objects.get(pk=run.pk).status == Run.Status.SUCCESS
    # The claim (lock the run and its task, the busy check, the lease and the first step's record),
    # the task read, the flow's fields (once per process), the step's completion, the next run on
    # the task; on SQLite the lease and the record are two statements, the completion four.
    limit = 10 if connection.vendor == "postgresql" else 14
    assert len(statements) <= limit, "\n".join(q["sql"][:90] for q in statements.captured_queries)


def test_a_doorbell_for_a_run_already_taken_reads_it_without_a_lock(seed, start, rung):
    """Under a burst the run a doorbell names is mostly another worker's, or done, by the time the
    doorbell is answered: one plain read says so, with no locked read in a transaction of its own."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from actions.engine import run_wake

    run = start([seed.task])[0]
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING, lease_owner="elsewhere", lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    with CaptureQueriesContext(connection) as statements:
        run_wake(run.pk)
    # The scan does not find it ready; then no one-run claim (a locked read of it, with its performer).
    claims = [q["sql"] for q in statements.captured_queries if "r.performed_by_id WHERE r.id = " in q["sql"]]
    claims += [
        q["sql"]
        for q in statements.captured_queries
        if q["sql"].startswith("SELECT id, kind") and "FROM actions_run WHERE id = " in q["sql"]
    ]
    assert not claims
    run.refresh_from_db()
    assert (run.status, run.lease_owner) == (Run.Status.RUNNING, "elsewhere")


def test_runs_are_inserted_in_order_with_every_value_as_the_orm_saves_it(
    seed, rung, settings, django_capture_on_commit_callbacks
):
    # 60 runs: more parameters than one SQLite statement takes, so the insert goes in pieces.
    tasks = more_tasks(seed, 3)
    program = [{"id": "s", "type": "update_data", "config": {"values": {"Company Name": "é \u2603"}}}]
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        runs = runs_create(
            [
                run_build(
                    kind="workflow",
                    flow=seed.flow,
                    task=tasks[i % 3],
                    name=f"Run {i}",
                    program=program,
                    context={"event": {"id": i}, "none": None},
                    depth=i % 4,
                    wake_at=before + timedelta(hours=1) if i == 59 else None,
                )
                for i in range(60)
            ]
        )
    assert [run.pk for run in runs] == sorted(run.pk for run in runs)
    assert all(not run._state.adding for run in runs)
    saved = {run.pk: run for run in Run.objects.filter(pk__in=[run.pk for run in runs])}
    assert len(saved) == 60
    for i, run in enumerate(runs):
        row = saved[run.pk]
        assert (row.name, row.task_id, row.task_ref, row.flow_id, row.depth) == (
            f"Run {i}",
            tasks[i % 3].pk,
            tasks[i % 3].pk,
            seed.flow.pk,
            i % 4,
        )
        assert (row.program, row.context, row.cursor, row.errors) == (
            program,
            {"event": {"id": i}, "none": None},
            [0],
            [],
        )
        assert row.created_at == run.created_at and row.created_at >= before
        assert row.status == ("waiting" if i == 59 else "pending")
        assert (row.started_at, row.lease_owner, row.workflow_id, row.performed_by_id) == (None, "", None, None)
    # The first pending runs are rung, the waiting one is not.
    assert rung == [run.pk for run in runs[: min(59, settings.RUN_DOORBELLS_PER_COMMIT)]]
