"""The one run engine for actions and workflows.

A run is a row; its steps are rows. The queue only rings the doorbell ("look at run N").
A worker claims a run with a lease, executes its consecutive steps in one go (recording
each as it finishes), and releases it when the run ends or parks in a wait. The sweeper
re-queues runs whose lease expired (their worker died) and runs whose wait is due.
Every outbound call carries an idempotency id stable per run and step, so a step repeated
after a crash can be recognized by its receiver.

This module is the run's logic; the statements it makes on runs and step records (claims, leases,
moves, records) are the run store's (actions.run_store), the program's cursor is actions.program.
"""

from __future__ import annotations

import copy
import enum
import functools
import logging
import os
import socket
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.tasks import async_task

from actions.models import Run, StepRun
from actions.program import cursor_advance, cursor_path, step_at, step_number
from actions.run_hooks import run_failure_announce
from actions.run_store import (
    Claim,
    lease_seconds,
    run_claim,
    run_claimable,
    run_finish,
    run_next_on_task,
    run_park,
    run_step_done,
    run_still_ours,
    runs_claim,
    runs_due,
    runs_end,
    runs_insert,
    runs_mark_rung,
    runs_next_on_tasks,
    runs_ready,
    step_run_count_attempt,
    step_run_get_or_create,
    step_run_mark,
    step_run_record,
    step_runs_save,
)
from actions.run_store import claims_hand_back as _hand_back
from actions.steps.base import (
    StepConfigError,
    StepContext,
    StepFailed,
    StepResult,
    StepRetry,
    get_step_type,
    step_label,
)
from flows.models import Flow
from flows.selectors import flow_read_now
from flowsite.api import ServiceError
from tasks.models import Notification
from tasks.selectors import task_with_relations, tasks_with_relations

logger = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


# ---------------------------------------------------------------- starting and waking


def run_enqueue(run_id: int) -> None:
    """Ring the doorbell. Called after commit; losing it is harmless (the sweeper rings again)."""
    try:
        async_task("actions.jobs.run_wake", run_id, task_name=f"run-{run_id}", save=False, broker=queue_broker())
    except Exception:  # the broker may be down; the run is safe in the database
        logger.warning("could not enqueue run %s; the sweeper will pick it up", run_id, exc_info=True)


def run_build(
    *,
    kind: str,
    flow,
    task,
    name: str,
    program: list[dict],
    version: int = 1,
    action=None,
    workflow=None,
    performed_by=None,
    context: dict | None = None,
    depth: int = 0,
    wake_at=None,
) -> Run:
    """A new run, not yet saved: `runs_create` starts it."""
    return Run(
        kind=kind,
        flow=flow,
        task=task,
        task_ref=task.pk if task is not None else 0,
        name=name,
        program=program,
        version=version,
        action=action,
        workflow=workflow,
        performed_by=performed_by,
        context=context or {},
        depth=depth,
        cursor=[0],
        status=Run.Status.WAITING if wake_at else Run.Status.PENDING,
        wake_at=wake_at,
    )


def runs_create(runs: list[Run]) -> list[Run]:
    """Insert runs in one statement and ring for the pending ones once the transaction commits.
    Run ids follow the list's order: on one task, the earlier run goes first."""
    if not runs:
        return []
    runs = runs_insert(runs)
    # A doorbell for each of the first few: a worker that answers one drains the pending runs after
    # it from the table (run_drain), so ten thousand runs cost a few dozen queue messages, not ten
    # thousand; the sweeper rings any that are left behind.
    due = [run.pk for run in runs if run.status == Run.Status.PENDING][: settings.RUN_DOORBELLS_PER_COMMIT]
    if due:
        transaction.on_commit(lambda: [run_enqueue(run_id) for run_id in due])
    return runs


def run_create(**kwargs) -> Run:
    """Start one run (see run_build for the arguments)."""
    return runs_create([run_build(**kwargs)])[0]


# ---------------------------------------------------------------- executing


class StepOutcome(enum.Enum):
    """How executing one step left the run."""

    NEXT = "next"  # recorded; the run goes on to its next step
    END = "end"  # that was the last step: the run is a success
    WAIT = "wait"  # parked until a time (a wait step, or a retry later)
    FAIL = "fail"  # the step failed, and the run with it
    STOP = "stop"  # the step ended the run as a success (the task is gone)
    LOST = "lost"  # the lease went to another worker: this one changes nothing more


def run_execute(run_id: int, *, owner: str | None = None, reload: bool = True) -> Run | None:
    """Claim the run and execute its steps until it ends, waits, or loses its lease.

    Consecutive steps run in one go on the run row already in hand: every step records itself in
    a transaction that first moves the cursor under the lease (`run_step_done`, which fails once the lease
    is someone else's), so the run's cursor and status in memory are the database's and need no
    reload between steps.
    `reload=False` (the worker) skips reading the finished run back for the caller."""
    claim = run_claim(run_id, owner or _new_owner())
    if claim is None:
        return None
    _run_claimed(claim)
    return Run.objects.filter(pk=claim.pk).first() if reload else claim.run


def _new_owner() -> str:
    return f"{WORKER_ID}:{uuid.uuid4().hex[:8]}"


def _run_claimed(claim: Claim, batch: _Batch | None = None) -> None:
    """Execute a claimed run's steps until it ends, waits, or loses its lease. In a `batch`, a run
    whose last step changes nothing in the database ends with the batch's other runs (_Batch)."""
    run = claim.run
    cache: dict[str, Any] = {}
    if claim.task is not None:
        # Read under its row lock by the claim, which has committed: as fresh as a read now.
        cache["task_after"], claim.task = claim.task, None
    try:
        while True:
            step = step_at(run.program, run.cursor)
            if step is None:
                run_finish(run, claim.owner, Run.Status.SUCCESS)
                break
            if _execute_step(claim, step, cache, batch) is not StepOutcome.NEXT:
                break
    finally:
        if batch is None or not batch.holds(claim):
            _wake_next_on_task(run)


def _load_task(run: Run, cache: dict, batch: _Batch | None = None):
    if not run.task_id:
        return None
    after = cache.pop("task_after", None)
    if after is not None and after.pk == run.task_id:
        # The step before wrote the task under its row lock and committed, or read it in the
        # statement that recorded it: what it left is as fresh as a read now.
        return after
    if batch is not None and run.task_id in batch.tasks:
        # Read with the batch's other tasks just after the claim: as fresh as a read of its own.
        return batch.tasks.pop(run.task_id)
    # The flow and its organization come along: steps read both, and a step may change the task,
    # so the task itself is read fresh for every step (or handed on as the step before wrote it).
    return task_with_relations(task_id=run.task_id)


def _load_flow(run: Run, task, cache: dict):
    if task is not None and task.flow_id == run.flow_id:
        cache["flow"] = task.flow
    elif "flow" not in cache:
        cache["flow"] = Flow.objects.select_related("organization").get(pk=run.flow_id)
    else:
        return cache["flow"]
    return flow_read_now(cache["flow"])  # with the task, or just above


def _step_run(claim: Claim, step: dict) -> tuple[StepRun, bool]:
    """The record of the step at the run's cursor, and whether this attempt is its first."""
    run = claim.run
    # A first attempt is recorded as running in the same INSERT that creates the record, made in
    # the transaction that claimed the run or completed the step before. Only a step this run
    # reached in an earlier claim may have a record already.
    prepared, claim.next_step_run = claim.next_step_run, None
    if prepared is not None and prepared.path == cursor_path(run.cursor):
        return prepared, True
    # A batch claim of due waits read their records with it.
    existing, claim.step_run = claim.step_run, None
    if existing is not None and existing.path == cursor_path(run.cursor):
        return existing, False
    return step_run_get_or_create(run, step, run.cursor)


def _execute_step(claim: Claim, step: dict, cache: dict, batch: _Batch | None = None) -> StepOutcome:
    """Run one step and record it."""
    run, owner = claim.run, claim.owner
    step_run, first_attempt = _step_run(claim, step)
    if step_run.status == StepRun.Status.WAITING and (step_run.output or {}).get("wait_until"):
        # A wait that is now over: it completed when its time came.
        return _complete(claim, step_run, cursor_advance(run.program, run.cursor), batch=batch, cache=cache)
    if not first_attempt:
        step_run_count_attempt(step_run)

    started = time.monotonic()
    task = _load_task(run, cache, batch)
    flow = _load_flow(run, task, cache)
    fields = cache.get("fields")
    if fields is None and batch is not None:
        # A batch's runs (one workflow's) share the fields of their flow as of its schema version.
        fields = batch.fields.get((flow.pk, flow.schema_version))
    ctx = StepContext(
        run=run,
        flow=flow,
        task=task,
        user=run.performed_by,
        path=step_run.path,
        idempotency_key=step_run.idempotency_key,
        attempt=step_run.attempts,
        # Changes a workflow makes are one link further down the chain than its trigger.
        depth=run.depth + 1 if run.kind == Run.Kind.WORKFLOW else run.depth,
        trigger=run.context,
        fields=fields,
        run_create=run_create,
    )
    try:
        step_type = get_step_type(step.get("type", ""))
        if step_type.needs_task and task is None:
            raise StepFailed("the task no longer exists")
        result = step_type.execute(ctx, step.get("config") or {})
        cache["fields"] = ctx.fields
        if batch is not None and ctx.fields is not None:
            batch.fields[(flow.pk, flow.schema_version)] = ctx.fields
        if result.wait_until is not None or result.stop:
            return _end_or_park(claim, step_run, result, started)
        if result.branch is not None:
            label, _steps = result.branch
            cursor = [*run.cursor, label, 0]
            if step_at(run.program, cursor) is None:
                cursor = cursor_advance(run.program, cursor[:-2])
        else:
            cursor = cursor_advance(run.program, run.cursor)
        outcome = _complete(claim, step_run, cursor, result=result, started=started, batch=batch, cache=cache)
        if outcome is StepOutcome.NEXT and ctx.task_after is not None:
            cache["task_after"] = ctx.task_after
        return outcome
    except StepRetry as exc:
        with transaction.atomic():
            if not run_still_ours(run, owner):
                return StepOutcome.LOST
            step_run_record(
                step_run,
                StepRun.Status.WAITING,
                error=exc.message,
                output={"retry_at": exc.wake_at.isoformat()},
                request=exc.request,
                response=exc.response,
            )
            run_park(run, exc.wake_at)
        return StepOutcome.WAIT
    except StepFailed as exc:
        return _fail(claim, step_run, step, exc.message, request=exc.request, response=exc.response, started=started)
    except Exception as exc:  # a bug must fail the run with a reason, never leave it hanging
        if isinstance(exc, StepConfigError):
            message = f"invalid configuration: {exc.field} {exc.message}"
        else:
            logger.exception("step %s of run %s crashed", step_run.path, run.pk)
            message = "internal error while running this step"
        return _fail(claim, step_run, step, message, started=started)


def _end_or_park(claim: Claim, step_run: StepRun, result: StepResult, started: float) -> StepOutcome:
    """Record a step that parks the run until a time, or ends it early as a success."""
    run = claim.run
    with transaction.atomic():
        if not run_still_ours(run, claim.owner):
            return StepOutcome.LOST
        if result.apply is not None:
            result.apply()
        if result.wait_until is not None:
            step_run_record(step_run, StepRun.Status.WAITING, result=result, started=started)
            run_park(run, result.wait_until)
            return StepOutcome.WAIT
        step_run_record(step_run, StepRun.Status.SUCCESS, result=result, started=started)
        run_finish(run, claim.owner, Run.Status.SUCCESS)
        return StepOutcome.STOP


def _complete(
    claim: Claim,
    step_run: StepRun,
    cursor: list,
    *,
    result: StepResult | None = None,
    started: float | None = None,
    batch: _Batch | None = None,
    cache: dict | None = None,
) -> StepOutcome:
    """Record a step as done and move the run on to `cursor`, or end it when nothing is left. A
    task read with the record is left in `cache` for the next step."""
    run = claim.run
    next_step = step_at(run.program, cursor)
    last = next_step is None
    if last and batch is not None and (result is None or result.apply is None):
        # Nothing to change but the records: the run ends with the batch's others, in one commit.
        batch.end(claim, step_run, cursor, result, started)
        return StepOutcome.END
    # Marked on a copy: if the lease is lost or `apply` refuses, the record in hand is as it was.
    done = copy.copy(step_run)
    step_run_mark(done, StepRun.Status.SUCCESS, result=result, started=started)
    # In one transaction: the step's changes are applied, and moving the cursor (or ending the run
    # after its last step) under the lease is also the check that the lease is still ours (the UPDATE
    # locks the run row as `run_still_ours` would; a lease found lost undoes the changes); the step is
    # recorded and the next one's record (new: the cursor never goes back) starts. The run in memory
    # changes only once this commits: `apply` may still refuse the step.
    apply = result.apply if result is not None else None
    # A step that changes nothing hands on no task: the next step's task is read with this record.
    read_task = not last and apply is None and bool(run.task_id)
    lease, prepared, task = run_step_done(run, claim.owner, cursor, done, next_step, apply=apply, read_task=read_task)
    if lease is False:
        return StepOutcome.LOST
    run.cursor, run.lease_expires_at = cursor, lease
    if last:
        run.status = Run.Status.SUCCESS
        return StepOutcome.END
    claim.next_step_run = prepared
    if task is not None and cache is not None:
        cache["task_after"] = task
    return StepOutcome.NEXT


def _fail(claim: Claim, step_run: StepRun, step: dict, message: str, **record) -> StepOutcome:
    run = claim.run
    label = step_label(str(step.get("type", "step")))
    error = f"Step {step_number(cursor_path(run.cursor))} ({label}) failed: {message}"
    with transaction.atomic():
        if not run_still_ours(run, claim.owner):
            return StepOutcome.FAIL
        step_run_record(step_run, StepRun.Status.FAIL, error=message, **record)
        run_finish(run, claim.owner, Run.Status.FAIL, errors=[error])
    logger.info("run %s failed at step %s: %s", run.pk, cursor_path(run.cursor), message)
    _notify_failure(run, error)
    run_failure_announce(run=run, error=error)
    return StepOutcome.FAIL


def _notify_failure(run: Run, error: str) -> None:
    if run.performed_by_id is None:
        return
    # The notification leads to the run: what each step sent and got back, and where it stopped.
    url = reverse("run_status", args=[run.flow.organization.parameterized_name, run.flow.parameterized_name, run.pk])
    Notification.objects.create(
        user_id=run.performed_by_id,
        flow_id=run.flow_id,
        task_id=run.task_id,
        kind="action_failed",
        message=f'"{run.name}" failed. {error}',
        url=url,
    )


def _wake_next_on_task(run: Run) -> None:
    """When a run on a task ends or parks, ring for the next one waiting its turn."""
    if not run.task_id:
        return
    waiting = run_next_on_task(run)
    if waiting is not None:
        run_enqueue(waiting)


# A worker drains pending runs for at most this long per doorbell, then rings again to go on: a
# django-q2 job must end well inside the cluster's timeout.
DRAIN_SECONDS = 5.0
# How long a worker that found nothing to take from the table leaves it before asking again.
DUE_CHECK_SECONDS = 0.1
# Per process: until when this worker, having found nothing, leaves the pending and the due runs alone.
_next_drain_check = 0.0
_next_due_check = 0.0


# A drain claims this many runs at once, and gives back the ones it has not started once the batch
# has taken this long (so a slow receiver's runs do not sit leased behind each other).
DRAIN_BATCH = 32
DRAIN_BATCH_SECONDS = 1.0
# Due waits are claimed this many at once: completing a wait is only its records.
DUE_BATCH = 64
# A batch records the runs it ended at least this often, so a slow call later in the batch does
# not hold back the records of the runs before it.
BATCH_RECORD_SECONDS = 0.25


class _Batch:
    """Runs claimed together. Their tasks are read in one statement, and the runs whose last step
    changes nothing in the database (a webhook, a wait that is over) end together: their cursor
    moves and step records in one transaction of a few statements, instead of one of five each.
    Until then they stay leased: a worker that dies before recording them is like one that died
    just after the call (the run is taken over and the step repeated under its idempotency id)."""

    def __init__(self, claims: list[Claim], *, read_tasks: bool):
        task_ids = [claim.run.task_id for claim in claims if claim.run.task_id]
        self.tasks = tasks_with_relations(task_ids=task_ids) if read_tasks else {}
        self.ends: list[tuple[Claim, StepRun, list]] = []
        self.fields: dict[tuple[int, int], list] = {}
        self.first_end = 0.0

    def holds(self, claim: Claim) -> bool:
        return any(held is claim for held, _s, _c in self.ends)

    def end(self, claim: Claim, step_run: StepRun, cursor: list, result: StepResult | None, started) -> None:
        step_run_mark(step_run, StepRun.Status.SUCCESS, result=result, started=started)
        if not self.ends:
            self.first_end = time.monotonic()
        self.ends.append((claim, step_run, cursor))

    def record_if_due(self) -> None:
        if self.ends and time.monotonic() - self.first_end >= BATCH_RECORD_SECONDS:
            self.record()

    def record(self) -> None:
        ends, self.ends = self.ends, []
        if not ends:
            return
        with transaction.atomic():
            ended = runs_end([(claim.run, claim.owner, cursor) for claim, _s, cursor in ends])
            step_runs_save([step_run for claim, step_run, _c in ends if claim.pk in ended])
        for claim, _step_run, cursor in ends:
            if claim.pk in ended:  # a run whose lease went elsewhere changes nothing more
                claim.run.cursor, claim.run.lease_expires_at = cursor, None
                claim.run.status = Run.Status.SUCCESS
        # The runs waiting their turn on these tasks (_wake_next_on_task, for all at once).
        for run_id in runs_next_on_tasks(sorted({claim.run.task_id for claim, _s, _c in ends if claim.run.task_id})):
            run_enqueue(run_id)


def _run_batch(claims: list[Claim], owner: str, *, deadline: float, read_tasks: bool, between=None) -> int:
    """Execute claimed runs one after the other, giving back those not started when the deadline
    comes or the batch has taken DRAIN_BATCH_SECONDS; `between()` runs before each (due waits).
    Returns how many ran, counting what `between` ran."""
    done = 0
    batch = _Batch(claims, read_tasks=read_tasks)
    started = time.monotonic()
    try:
        for index, claim in enumerate(claims):
            now = time.monotonic()
            if index and (now >= deadline or now - started >= min(DRAIN_BATCH_SECONDS, lease_seconds() / 4)):
                _hand_back(claims[index:], owner)
                break
            if between is not None:
                done += between()
            batch.record_if_due()
            _run_claimed(claim, batch)
            done += 1
    finally:
        batch.record()
    return done


def _drain(
    *, deadline: float, rung: int | None = None, taken: set[int] | None = None, ready: list[int] | None = None
) -> tuple[int, list[int] | None]:
    """Execute pending runs, a batch at a time: returns how many ran, and [] when none is left,
    the candidates not taken when the deadline came, or None after three rounds lost to other workers.
    `rung` (a run a doorbell rang for) is a candidate of the first round; `taken` collects the ids
    of the runs claimed; `ready`: the first round's candidates when the caller has just read them."""
    done = misses = 0
    while misses < 3:
        # Several batches' worth of candidates: workers scanning at once see the same oldest runs, and
        # with only one batch's worth the first claim would take them all and leave the others none.
        if ready is None:
            ready = runs_ready(DRAIN_BATCH * 4)
        if rung is not None:
            ready, rung = sorted({rung, *ready}), None
        if not ready:
            return done, []
        if time.monotonic() >= deadline:
            return done, ready
        done += run_due()
        owner = _new_owner()
        batch = runs_claim(ready, owner, limit=DRAIN_BATCH)
        if taken is not None:
            taken.update(claim.pk for claim in batch)
        done += _run_batch(batch, owner, deadline=deadline, read_tasks=True, between=run_due)
        misses = 0 if batch else misses + 1
        ready = None
    return done, None


def run_drain(
    *,
    budget_seconds: float = DRAIN_SECONDS,
    rung: int | None = None,
    taken: set[int] | None = None,
    ready: list[int] | None = None,
) -> int:
    """Run pending runs straight from the table, oldest first, until none is left or the budget is
    spent. A worker calls this after the run it was rung for: a commit that started many runs rang
    for only a few of them (runs_create). Due waits go first, before each run. Returns how many ran.
    `rung`, `taken` and `ready`: see _drain."""
    global _next_drain_check
    if time.monotonic() < _next_drain_check:
        return 0  # found none a moment ago: an idle worker asks at most every DUE_CHECK_SECONDS
    done, left = _drain(deadline=time.monotonic() + budget_seconds, rung=rung, taken=taken, ready=ready)
    if left == []:
        _next_drain_check = time.monotonic() + DUE_CHECK_SECONDS
    elif left:
        run_enqueue(left[0])  # out of time, not out of work: another job goes on
    return done


def run_wake(run_id: int) -> None:
    """Answer a doorbell for `run_id`. While the table has other pending runs, the run joins a drain:
    it is claimed and ended with a batch's others (a claim and an end shared by up to DRAIN_BATCH
    runs) instead of alone (a claim of six statements and an end of its own). A worker that has
    just found the table empty, or whose scan finds no other pending run (a quiet system: a hop),
    claims the run alone, which is fewer statements before its call goes out. A run the drain did
    not take is read plainly first (mostly another worker holds it or ended it); one still claimable
    (a takeover after an expired lease, a due wait the sweeper rang) gets the one-run claim, which
    checks again under the lock."""
    ready = None
    if time.monotonic() >= _next_drain_check:
        ready = runs_ready(DRAIN_BATCH * 4)
    if ready is None or all(other == run_id for other in ready):
        # A run the scan did not find ready is mostly another worker's by now: a plain read says so.
        if ready is None or run_id in ready or run_claimable(run_id):
            run_execute(run_id, reload=False)
        run_due()
        run_drain()
        return
    taken: set[int] = set()
    run_due()
    # One drain's budget per job (DRAIN_SECONDS): a drain out of time rings for another job.
    run_drain(rung=run_id, taken=taken, ready=ready)
    # Under a burst the run is mostly another worker's by now: a plain read says so.
    if run_id not in taken and run_claimable(run_id):
        run_execute(run_id, reload=False)


def run_due(*, budget_seconds: float = 0.5, limit: int = 500) -> int:
    """Run waits that are due, straight from the table, DUE_BATCH at a claim, for up to `budget_seconds`.

    A worker calls this after each run it was rung for, and before each run it drains. Due waits are
    late by definition, so they go ahead of doorbells still queued behind a burst of new runs (the
    queue is first come, first served) and of pending runs; the sweeper's doorbells for them then
    find them done. Returns how many ran."""
    global _next_due_check
    if time.monotonic() < _next_due_check:
        return 0  # found nothing a moment ago: under a burst of new runs, don't ask after every one
    deadline = time.monotonic() + budget_seconds
    done = misses = 0
    while misses < 3 and done < limit and time.monotonic() < deadline:
        due = runs_due(DUE_BATCH * 4)  # several batches' worth, as in _drain
        if not due:
            _next_due_check = time.monotonic() + DUE_CHECK_SECONDS
            break
        owner = _new_owner()
        claims = runs_claim(due, owner, limit=DUE_BATCH, due=True)
        done += _run_batch(claims, owner, deadline=deadline, read_tasks=False)
        misses = 0 if claims else misses + 1
    return done


# ---------------------------------------------------------------- sweeping


def run_sweep(*, now=None) -> list[int]:
    """Ring for runs that need a worker: due waits, expired leases (their worker died), and
    pending runs whose doorbell was lost. Each is rung once per RUN_RERING_SECONDS, however
    many sweepers run, so a burst never floods the queue with duplicates."""
    now = now or timezone.now()
    settle = timedelta(seconds=float(getattr(settings, "RUN_PENDING_GRACE_SECONDS", 5)))
    # A pending run is only "lost" once the queue has drained: while doorbells wait in it, a pending
    # run's own doorbell is most likely among them, and ringing again under a burst only doubles the
    # workers' work (each duplicate costs a claim) and the queue's length.
    pending_before = None if _queue_backlog() else now - settle
    rung = runs_mark_rung(now=now, rung_before=now - timedelta(seconds=rering_seconds()), pending_before=pending_before)
    for run_id in rung:
        run_enqueue(run_id)
    return rung


def run_next_wake_in() -> float:
    """Seconds until the next waiting run falls due (infinity when none waits in the future).
    Waits already overdue are not counted: the sweep just rang them, or they wait their turn."""
    wake_at = (
        Run.objects.filter(status=Run.Status.WAITING, wake_at__gt=timezone.now())
        .order_by("wake_at")
        .values_list("wake_at", flat=True)
        .first()
    )
    return float("inf") if wake_at is None else (wake_at - timezone.now()).total_seconds()


def _queue_backlog() -> int:
    """Doorbells waiting in the broker (0 when it cannot tell: then the sweeper rings, to be safe)."""
    try:
        return int(queue_broker().queue_size() or 0)
    except Exception:
        return 0


@functools.cache
def queue_broker():
    """The process's one broker (a per-process cache). django-q2 makes a new one for every message
    unless given one, and a new Redis broker is a new connection and handshake: several milliseconds
    a doorbell."""
    return get_broker()


def rering_seconds() -> float:
    return float(getattr(settings, "RUN_RERING_SECONDS", 30))


def run_retry(*, run: Run, actor=None) -> Run:
    """Retry a failed run from its failed step (workflows' run history offers this)."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status != Run.Status.FAIL:
            raise ServiceError({"status": ["Only failed runs can be retried."]})
        if not locked.retryable:
            raise ServiceError({"status": ["This run never started, so there is no step to retry."]})
        # The failed step's record stays; its next attempt counts on from there.
        locked.status = Run.Status.PENDING
        locked.errors = []
        locked.finished_at = None
        locked.save(update_fields=["status", "errors", "finished_at"])
        transaction.on_commit(lambda: run_enqueue(locked.pk))
    return locked
