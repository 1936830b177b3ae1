"""The one run engine for actions and workflows.

A run is a row; its steps are rows. The queue only rings the doorbell ("look at run N").
A worker claims a run with a lease, executes its consecutive steps in one go (recording
each as it finishes), and releases it when the run ends or parks in a wait. The sweeper
re-queues runs whose lease expired (their worker died) and runs whose wait is due.
Every outbound call carries an idempotency id stable per run and step, so a step repeated
after a crash can be recognized by its receiver.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import socket
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.tasks import async_task

from actions.models import Run, StepRun
from actions.run_hooks import run_failure_announce
from actions.steps.base import StepConfigError, StepContext, StepFailed, StepResult, StepRetry, get_step_type
from flows.models import Flow
from flows.selectors import flow_read_now
from flowsite.api import ServiceError
from tasks.models import Notification
from tasks.selectors import task_with_relations

logger = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def lease_seconds() -> float:
    return float(getattr(settings, "RUN_LEASE_SECONDS", 90))


# ---------------------------------------------------------------- starting and waking


def run_enqueue(run_id: int) -> None:
    """Ring the doorbell. Called after commit; losing it is harmless (the sweeper rings again)."""
    try:
        async_task("actions.jobs.run_wake", run_id, task_name=f"run-{run_id}", save=False, broker=_queue())
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
    runs = Run.objects.bulk_create(runs)
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


# ---------------------------------------------------------------- program navigation


def step_at(program: list[dict], cursor: list) -> dict | None:
    """The step the cursor points at, or None when it is past the end of its list."""
    steps = program
    step = None
    for i, part in enumerate(cursor):
        if isinstance(part, int):
            if part >= len(steps):
                return None
            step = steps[part]
        else:
            steps = (step or {}).get("config", {}).get(part) or []
            if i == len(cursor) - 1:
                return None
    return step


def cursor_advance(program: list[dict], cursor: list) -> list:
    """The cursor of the step after this one, climbing out of finished branches."""
    cursor = list(cursor)
    while True:
        cursor[-1] += 1
        if step_at(program, cursor) is not None or len(cursor) == 1:
            return cursor
        cursor = cursor[:-2]


def cursor_path(cursor: list) -> str:
    return ".".join(str(part) for part in cursor)


# ---------------------------------------------------------------- claiming


def run_claim(run_id: int, owner: str) -> Run | None:
    """Take the lease on a run if it is due and nobody holds it, and no other run on the
    same task is running (runs on one task are serialized, so merges never overwrite)."""
    now = timezone.now()
    with transaction.atomic():
        statement = f"SELECT {_run_columns()} FROM actions_run WHERE id = %s{_for_update()}"
        run = next(iter(Run.objects.raw(statement, [run_id])), None)
        if run is None or run.is_finished:
            return None
        if run.status == Run.Status.WAITING and run.wake_at and run.wake_at > now:
            return None
        if run.status == Run.Status.RUNNING and run.lease_expires_at and run.lease_expires_at > now:
            return None
        if run.task_id:
            # The task row lock makes the "is another run busy on this task" check race-free.
            _sql(f"SELECT id FROM tasks_task WHERE id = %s{_for_update()}", [run.task_id])
            if _task_busy(run, now):
                return None
        first_step = _lease(run, owner, now, now + timedelta(seconds=lease_seconds()))
        _sql(
            "UPDATE actions_run SET status = %s, lease_owner = %s, lease_expires_at = %s, started_at = %s"
            " WHERE id = %s",
            [run.status, owner, _when(run.lease_expires_at), _when(run.started_at), run.pk],
        )
        if first_step is not None:
            first_step.save()
            run.next_step_run = first_step
    return run


def _lease(run: Run, owner: str, now, lease) -> StepRun | None:
    """Mark a claimed run in memory as leased to `owner`, and return its first step's record, not
    yet saved, if it never started: a run's very first step is recorded as running in the claim's
    own transaction (it has no step records yet, so they can be inserted blind)."""
    run.first_claim = run.started_at is None
    run.status, run.lease_owner, run.lease_expires_at = Run.Status.RUNNING, owner, lease
    run.started_at = run.started_at or now
    run.next_step_run = None
    step = step_at(run.program, run.cursor) if run.first_claim else None
    return StepRun(run=run, **_new_step_run(run, step, run.cursor)) if step is not None else None


# The engine's hottest statements are plain SQL: on this kind of machine compiling an ORM query
# costs several times the database round trip it makes, and a run takes several of them.


def _sql(statement: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


@functools.cache
def _run_columns() -> str:
    # Named, not *: a prepared "SELECT *" fails once a migration adds a column under a live connection.
    return ", ".join(field.column for field in Run._meta.concrete_fields)


def _placeholders(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def _for_update() -> str:
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def _when(value):
    return connection.ops.adapt_datetimefield_value(value)


def _task_busy(run: Run, now) -> bool:
    """Another run holds a live lease on the run's task, or (first come, first served) an earlier
    run on it is still pending."""
    statement = "SELECT 1 FROM actions_run WHERE task_id = %s AND id <> %s AND ((status = %s AND lease_expires_at > %s)"
    params = [run.task_id, run.pk, Run.Status.RUNNING, _when(now)]
    if run.status == Run.Status.PENDING:
        statement += " OR (status = %s AND id < %s)"
        params += [Run.Status.PENDING, run.pk]
    return bool(_sql(statement + ") LIMIT 1", params))


# Pending runs of a batch that are not busy: another run on the task holds a live lease, or an earlier
# run on it is still pending (first come, first served). The claim's `_task_busy`, for many at once.
_BUSY = (
    "SELECT r.id FROM actions_run r WHERE r.id IN ({ids}) AND EXISTS (SELECT 1 FROM actions_run o"
    " WHERE o.task_id = r.task_id AND o.id <> r.id AND ((o.status = 'running' AND o.lease_expires_at > %s)"
    " OR (o.status = 'pending' AND o.id < r.id)))"
)


def runs_claim(run_ids: list[int], owner: str, *, limit: int) -> list[Run]:
    """Claim up to `limit` of these runs that are still pending, by the rules of `run_claim`, in one
    transaction of six statements however many it takes (the drain's claim). Only runs of one workflow
    or action go in a batch, so a receiver that hangs delays only its own workflow's runs. Rows other
    workers are claiming are skipped, not waited for (PostgreSQL; SQLite's one writer serializes)."""
    if not run_ids:
        return []
    now = timezone.now()
    skip = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    with transaction.atomic():
        runs = list(
            Run.objects.raw(
                f"SELECT {_run_columns()} FROM actions_run WHERE id IN ({_placeholders(run_ids)}) AND status = %s"
                f" ORDER BY id LIMIT %s{skip}",
                [*run_ids, Run.Status.PENDING, limit],
            )
        )
        if runs:
            kind = (runs[0].workflow_id, runs[0].action_id)
            runs = [run for run in runs if (run.workflow_id, run.action_id) == kind]
        task_ids = sorted({run.task_id for run in runs if run.task_id})
        if task_ids:
            # The task rows' locks make the busy check race-free, as in run_claim.
            free = {
                row[0]
                for row in _sql(
                    f"SELECT id FROM tasks_task WHERE id IN ({_placeholders(task_ids)}) ORDER BY id{skip}",
                    task_ids,
                )
            }
            candidates = [run.pk for run in runs]
            busy = {row[0] for row in _sql(_BUSY.format(ids=_placeholders(candidates)), [*candidates, _when(now)])}
            runs = [run for run in runs if not run.task_id or (run.task_id in free and run.pk not in busy)]
        if not runs:
            return []
        lease = now + timedelta(seconds=lease_seconds())
        claimed = [run.pk for run in runs]
        _sql(
            "UPDATE actions_run SET status = %s, lease_owner = %s, lease_expires_at = %s,"
            f" started_at = COALESCE(started_at, %s) WHERE id IN ({_placeholders(claimed)})",
            [Run.Status.RUNNING, owner, _when(lease), _when(now), *claimed],
        )
        first_steps = [step for step in (_lease(run, owner, now, lease) for run in runs) if step is not None]
        for step_run in StepRun.objects.bulk_create(first_steps):
            step_run.run.next_step_run = step_run
    return runs


def _hand_back(runs: list[Run], owner: str) -> None:
    """Give claimed runs that never started back to the table, as they were before the claim."""
    if not runs:
        return
    with transaction.atomic():
        _sql(
            "UPDATE actions_run SET status = %s, lease_owner = '', lease_expires_at = NULL"
            f" WHERE id IN ({_placeholders(runs)})"
            " AND lease_owner = %s AND status = %s",
            [Run.Status.PENDING, *[run.pk for run in runs], owner, Run.Status.RUNNING],
        )
        fresh = [run.pk for run in runs if run.first_claim]
        if fresh:
            # The claim made their first step's record and start time: as if never claimed, so the
            # next claim counts the first attempt as the first.
            _sql(
                f"UPDATE actions_run SET started_at = NULL WHERE id IN ({_placeholders(fresh)})",
                fresh,
            )
            StepRun.objects.filter(run_id__in=fresh).delete()


def _new_step_run(run: Run, step: dict, cursor: list) -> dict:
    path = cursor_path(cursor)
    return {
        "path": path,
        "step_id": str(step.get("id", "")),
        "type": step.get("type", ""),
        "idempotency_key": f"run_{run.pk}_step_{path}",
        "attempts": 1,
        "status": StepRun.Status.RUNNING,
        "started_at": timezone.now(),
    }


def _still_ours(run: Run, owner: str) -> Run | None:
    fresh = Run.objects.select_for_update().filter(pk=run.pk, lease_owner=owner, status=Run.Status.RUNNING).first()
    return fresh


# ---------------------------------------------------------------- executing


def run_execute(run_id: int, *, owner: str | None = None, reload: bool = True) -> Run | None:
    """Claim the run and execute its steps until it ends, waits, or loses its lease.

    Consecutive steps run in one go on the run row already in hand: every step records itself in
    a transaction that first moves the cursor under the lease (`_move`, which fails once the lease
    is someone else's), so the run's cursor and status in memory are the database's and need no
    reload between steps.
    `reload=False` (the worker) skips reading the finished run back for the caller."""
    owner = owner or _new_owner()
    run = run_claim(run_id, owner)
    if run is None:
        return None
    _run_claimed(run, owner)
    return Run.objects.filter(pk=run.pk).first() if reload else run


def _new_owner() -> str:
    return f"{WORKER_ID}:{uuid.uuid4().hex[:8]}"


def _run_claimed(run: Run, owner: str) -> None:
    """Execute a claimed run's steps until it ends, waits, or loses its lease."""
    cache: dict[str, Any] = {}
    try:
        while True:
            step = step_at(run.program, run.cursor)
            if step is None:
                _finish(run, owner, Run.Status.SUCCESS)
                break
            outcome = _execute_step(run, owner, step, cache)
            if outcome != "next":
                break
    finally:
        _wake_next_on_task(run)


def _load_task(run: Run):
    if not run.task_id:
        return None
    # The flow and its organization come along: steps read both, and a step may change the task,
    # so the task itself is read fresh for every step.
    return task_with_relations(task_id=run.task_id)


def _load_flow(run: Run, task, cache: dict):
    if task is not None and task.flow_id == run.flow_id:
        cache["flow"] = task.flow
    elif "flow" not in cache:
        cache["flow"] = Flow.objects.select_related("organization").get(pk=run.flow_id)
    else:
        return cache["flow"]
    return flow_read_now(cache["flow"])  # with the task, or just above


def _execute_step(run: Run, owner: str, step: dict, cache: dict | None = None) -> str:
    """Run one step and record it. Returns "next", "end" (that was the last step), "wait", "fail", "stop" or "lost"."""
    cache = cache if cache is not None else {}
    path = cursor_path(run.cursor)
    step_type_name = step.get("type", "")
    # A first attempt is recorded as running in the same INSERT that creates the record, made in
    # the transaction that claimed the run or completed the step before (`next_step_run`). Only a
    # step this run reached in an earlier claim may have a record already.
    prepared = getattr(run, "next_step_run", None)
    run.next_step_run = None
    if prepared is not None and prepared.path == path:
        step_run, created = prepared, True
    else:
        new_step = _new_step_run(run, step, run.cursor)
        del new_step["path"]
        step_run, created = StepRun.objects.get_or_create(run=run, path=path, defaults=new_step)
    if step_run.status == StepRun.Status.WAITING and (step_run.output or {}).get("wait_until"):
        # A wait that is now over: it completed when its time came.
        return _complete(run, owner, step_run, cursor_advance(run.program, run.cursor))

    if not created:
        # Another attempt (after a crash, a lost lease or a retry): count it before calling out.
        step_run.attempts += 1
        step_run.status = StepRun.Status.RUNNING
        step_run.started_at = step_run.started_at or timezone.now()
        step_run.save(update_fields=["attempts", "status", "started_at"])

    started = time.monotonic()
    task = _load_task(run)
    flow = _load_flow(run, task, cache)
    ctx = StepContext(
        run=run,
        flow=flow,
        task=task,
        user=run.performed_by,
        path=path,
        idempotency_key=step_run.idempotency_key,
        attempt=step_run.attempts,
        # Changes a workflow makes are one link further down the chain than its trigger.
        depth=run.depth + 1 if run.kind == Run.Kind.WORKFLOW else run.depth,
        trigger=run.context,
        fields=cache.get("fields"),
        run_create=run_create,
    )
    try:
        step_type = get_step_type(step_type_name)
        if step_type.needs_task and task is None:
            raise StepFailed("the task no longer exists")
        config = step.get("config") or {}
        result = step_type.execute(ctx, config)
        cache["fields"] = ctx.fields
        if result.wait_until is not None or result.stop:
            with transaction.atomic():
                if _still_ours(run, owner) is None:
                    return "lost"
                if result.apply is not None:
                    result.apply()
                _record(step_run, _status_for(result), result=result, started=started)
                if result.wait_until is not None:
                    _park(run, result.wait_until)
                    return "wait"
                _finish(run, owner, Run.Status.SUCCESS, locked=True)
                return "stop"
        if result.branch is not None:
            label, _steps = result.branch
            cursor = [*run.cursor, label, 0]
            if step_at(run.program, cursor) is None:
                cursor = cursor_advance(run.program, cursor[:-2])
        else:
            cursor = cursor_advance(run.program, run.cursor)
        return _complete(run, owner, step_run, cursor, result=result, started=started)
    except StepRetry as exc:
        with transaction.atomic():
            if _still_ours(run, owner) is None:
                return "lost"
            _record(step_run, StepRun.Status.WAITING, error=exc.message, request=exc.request, response=exc.response)
            step_run.output = {"retry_at": exc.wake_at.isoformat()}
            step_run.save(update_fields=["output"])
            _park(run, exc.wake_at)
        return "wait"
    except StepFailed as exc:
        _fail(run, owner, step_run, step, exc.message, request=exc.request, response=exc.response, started=started)
        return "fail"
    except Exception as exc:  # a bug must fail the run with a reason, never leave it hanging
        if isinstance(exc, StepConfigError):
            message = f"invalid configuration: {exc.field} {exc.message}"
        else:
            logger.exception("step %s of run %s crashed", path, run.pk)
            message = "internal error while running this step"
        _fail(run, owner, step_run, step, message, started=started)
        return "fail"


def _complete(run: Run, owner: str, step_run: StepRun, cursor: list, *, result=None, started=None) -> str:
    """Record a step as done and move the run on to `cursor`, or end it when nothing is left."""
    next_step = step_at(run.program, cursor)
    last = next_step is None
    with transaction.atomic():
        # Moving the cursor (or ending the run after its last step) under the lease is also the
        # check that the lease is still ours: the UPDATE locks the run row as `_still_ours` would.
        # The run in memory changes only once this commits: `apply` may still refuse the step.
        lease = _move(run, owner, cursor, last=last)
        if lease is False:
            return "lost"
        if result is not None and result.apply is not None:
            result.apply()
        _record(step_run, StepRun.Status.SUCCESS, result=result, started=started)
        if not last:
            # The next step is new (the cursor never goes back): its record starts in this commit.
            prepared = StepRun.objects.create(run=run, **_new_step_run(run, next_step, cursor))
    run.cursor, run.lease_expires_at = cursor, lease
    if last:
        run.status = Run.Status.SUCCESS
        return "end"
    run.next_step_run = prepared
    return "next"


def _status_for(result: StepResult) -> str:
    return StepRun.Status.WAITING if result.wait_until is not None else StepRun.Status.SUCCESS


def _record(
    step_run: StepRun,
    status: str,
    *,
    result: StepResult | None = None,
    error: str = "",
    request: dict | None = None,
    response: dict | None = None,
    started: float | None = None,
) -> None:
    now = timezone.now()
    step_run.status = status
    step_run.error = error
    if result is not None:
        step_run.output = result.output
        if result.wait_until is not None:
            step_run.output = {**(result.output or {}), "wait_until": result.wait_until.isoformat()}
        request, response = result.request, result.response
    if request is not None:
        step_run.request = request
    if response is not None:
        step_run.response = response
    if status != StepRun.Status.WAITING or step_run.finished_at is None:
        step_run.finished_at = now
    if started is not None:
        step_run.duration_ms = round((time.monotonic() - started) * 1000, 2)
    _sql(
        "UPDATE actions_steprun SET status = %s, error = %s, output = %s, request = %s, response = %s,"
        " finished_at = %s, duration_ms = %s WHERE id = %s",
        [
            step_run.status,
            step_run.error,
            *(
                None if value is None else json.dumps(value)
                for value in (step_run.output, step_run.request, step_run.response)
            ),
            _when(step_run.finished_at),
            step_run.duration_ms,
            step_run.pk,
        ],
    )


def _move(run: Run, owner: str, cursor: list, *, last: bool = False):
    """Set the run's cursor in the database and renew its lease (or, after the last step, end
    the run as a success), if the lease is still ours. Returns the new lease's expiry (None once
    the run ended), or False when the run is no longer ours."""
    now = timezone.now()
    statement = "UPDATE actions_run SET cursor = %s, lease_expires_at = %s"
    if last:
        lease = None
        statement += ", status = %s, finished_at = %s, lease_owner = '', wake_at = NULL"
        params = [json.dumps(cursor), None, Run.Status.SUCCESS, _when(now)]
    else:
        lease = now + timedelta(seconds=lease_seconds())
        params = [json.dumps(cursor), _when(lease)]
    with connection.cursor() as db:
        db.execute(
            statement + " WHERE id = %s AND lease_owner = %s AND status = %s",
            [*params, run.pk, owner, Run.Status.RUNNING],
        )
        moved = db.rowcount
    return lease if moved else False


def _park(run: Run, wake_at) -> None:
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.WAITING, wake_at=wake_at, lease_owner="", lease_expires_at=None
    )
    run.status = Run.Status.WAITING


def _finish(run: Run, owner: str, status: str, *, locked: bool = False, errors: list | None = None) -> None:
    updates: dict[str, Any] = {
        "status": status,
        "finished_at": timezone.now(),
        "lease_owner": "",
        "lease_expires_at": None,
        "wake_at": None,
    }
    if errors is not None:
        updates["errors"] = errors
    Run.objects.filter(pk=run.pk, lease_owner=owner).update(**updates)
    run.status = status


def _fail(run: Run, owner: str, step_run: StepRun, step: dict, message: str, **record) -> None:
    label = _step_label(step)
    number = cursor_path(run.cursor)
    error = f"Step {_human_number(run.cursor)} ({label}) failed: {message}"
    with transaction.atomic():
        if _still_ours(run, owner) is None:
            return
        _record(step_run, StepRun.Status.FAIL, error=message, **record)
        _finish(run, owner, Run.Status.FAIL, errors=[error])
    logger.info("run %s failed at step %s: %s", run.pk, number, message)
    _notify_failure(run, error)
    run_failure_announce(run=run, error=error)


def _human_number(cursor: list) -> str:
    parts = []
    for part in cursor:
        parts.append(str(part + 1) if isinstance(part, int) else part)
    return " ".join(parts)


def _step_label(step: dict) -> str:
    try:
        return get_step_type(step.get("type", "")).label
    except Exception:
        return str(step.get("type", "step"))


def _notify_failure(run: Run, error: str) -> None:
    if run.performed_by_id is None:
        return
    url = ""
    if run.task_id:
        url = reverse(
            "task_detail", args=[run.flow.organization.parameterized_name, run.flow.parameterized_name, run.task_id]
        )
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
    waiting = _sql(
        "SELECT id FROM actions_run WHERE task_id = %s AND status = %s AND id <> %s ORDER BY id LIMIT 1",
        [run.task_id, Run.Status.PENDING, run.pk],
    )
    if waiting:
        run_enqueue(waiting[0][0])


# A worker drains pending runs for at most this long per doorbell, then rings again to go on: a
# django-q2 job must end well inside the cluster's timeout.
DRAIN_SECONDS = 5.0
# How long a worker that found nothing to take from the table leaves it before asking again.
DUE_CHECK_SECONDS = 0.1
_next_drain_check = 0.0
_next_due_check = 0.0

# Runs a claim would take: pending, and their task has no earlier pending run and no run in progress.
_READY = (
    "SELECT r.id FROM actions_run r WHERE r.status = 'pending' AND NOT EXISTS (SELECT 1 FROM actions_run o"
    " WHERE o.task_id = r.task_id AND o.id <> r.id"
    " AND (o.status = 'running' OR (o.status = 'pending' AND o.id < r.id))) ORDER BY r.id LIMIT 32"
)
_DUE = "SELECT id FROM actions_run WHERE status = 'waiting' AND wake_at <= %s ORDER BY wake_at LIMIT 16"


def _take(select, *, deadline: float, limit: int) -> tuple[int, list[int] | None]:
    """Execute the runs `select()` finds, sixteen at a time in a random order (so workers taking at
    once mostly take different ones), until it finds none (returns an empty list), the deadline or
    the limit comes (returns the ids not yet taken), or three rounds in a row lose every run to other
    workers (returns None). Returns how many ran, too."""
    done = misses = 0
    while misses < 3:
        ready = select()
        if not ready:
            return done, []
        random.shuffle(ready)
        took = 0
        for index, run_id in enumerate(ready):
            if done + took >= limit or time.monotonic() >= deadline:
                return done + took, ready[index:]
            took += run_execute(run_id, reload=False) is not None
        done += took
        misses = 0 if took else misses + 1
    return done, None


# A drain claims this many runs at once, and gives back the ones it has not started once the batch
# has taken this long (so a slow receiver's runs do not sit leased behind each other).
DRAIN_BATCH = 8
DRAIN_BATCH_SECONDS = 1.0


def _drain(*, deadline: float) -> tuple[int, list[int] | None]:
    """`_take` for pending runs, a batch at a time: returns how many ran, and [] when none is left,
    the candidates not taken when the deadline came, or None after three rounds lost to other workers."""
    done = misses = 0
    while misses < 3:
        ready = [row[0] for row in _sql(_READY, [])]
        if not ready:
            return done, []
        if time.monotonic() >= deadline:
            return done, ready
        done += run_due()
        owner = _new_owner()
        batch = runs_claim(ready, owner, limit=DRAIN_BATCH)
        started = time.monotonic()
        for index, run in enumerate(batch):
            now = time.monotonic()
            if index and (now >= deadline or now - started >= min(DRAIN_BATCH_SECONDS, lease_seconds() / 4)):
                _hand_back(batch[index:], owner)
                break
            done += run_due() + 1
            _run_claimed(run, owner)
        misses = 0 if batch else misses + 1
    return done, None


def run_drain(*, budget_seconds: float = DRAIN_SECONDS) -> int:
    """Run pending runs straight from the table, oldest first, until none is left or the budget is
    spent. A worker calls this after the run it was rung for: a commit that started many runs rang
    for only a few of them (runs_create). Due waits go first, before each run. Returns how many ran."""
    global _next_drain_check
    if time.monotonic() < _next_drain_check:
        return 0  # found none a moment ago: an idle worker asks at most every DUE_CHECK_SECONDS
    done, left = _drain(deadline=time.monotonic() + budget_seconds)
    if left == []:
        _next_drain_check = time.monotonic() + DUE_CHECK_SECONDS
    elif left:
        run_enqueue(left[0])  # out of time, not out of work: another job goes on
    return done


def run_due(*, budget_seconds: float = 0.5, limit: int = 50) -> int:
    """Run waits that are due, straight from the table, for up to `budget_seconds`.

    A worker calls this after each run it was rung for, and before each run it drains. Due waits are
    late by definition, so they go ahead of doorbells still queued behind a burst of new runs (the
    queue is first come, first served) and of pending runs; the sweeper's doorbells for them then
    find them done. Returns how many ran."""
    global _next_due_check
    if time.monotonic() < _next_due_check:
        return 0  # found nothing a moment ago: under a burst of new runs, don't ask after every one
    done, left = _take(
        lambda: [row[0] for row in _sql(_DUE, [_when(timezone.now())])],
        deadline=time.monotonic() + budget_seconds,
        limit=limit,
    )
    if left == []:
        _next_due_check = time.monotonic() + DUE_CHECK_SECONDS
    return done


# ---------------------------------------------------------------- sweeping


def run_sweep(*, now=None) -> list[int]:
    """Ring for runs that need a worker: due waits, expired leases (their worker died), and
    pending runs whose doorbell was lost. Each is rung once per RUN_RERING_SECONDS, however
    many sweepers run, so a burst never floods the queue with duplicates."""
    now = now or timezone.now()
    settle = timedelta(seconds=float(getattr(settings, "RUN_PENDING_GRACE_SECONDS", 5)))
    not_rung = Q(rung_at__isnull=True) | Q(rung_at__lte=now - timedelta(seconds=rering_seconds()))
    due = Q(status=Run.Status.WAITING, wake_at__lte=now) | Q(status=Run.Status.RUNNING, lease_expires_at__lte=now)
    if not _queue_backlog():
        # A pending run is only "lost" once the queue has drained: while doorbells wait in it, a
        # pending run's own doorbell is most likely among them, and ringing again under a burst
        # only doubles the workers' work (each duplicate costs a claim) and the queue's length.
        due |= Q(status=Run.Status.PENDING, created_at__lte=now - settle)
    needs_worker = due & not_rung
    if not Run.objects.filter(needs_worker).exists():
        return []  # the usual case, answered without a write transaction
    with transaction.atomic():
        # Taken and marked in two statements, however many: on PostgreSQL the rows are locked (a
        # concurrent sweeper skips them, then sees rung_at set); on SQLite the transaction holds
        # the write lock from its start. Either way only one sweeper rings a run.
        rung = list(
            Run.objects.select_for_update(skip_locked=True)
            .filter(needs_worker)
            .order_by("wake_at", "pk")
            .values_list("pk", flat=True)[:500]
        )
        if rung:
            Run.objects.filter(pk__in=rung).update(rung_at=now)
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
        return int(_queue().queue_size() or 0)
    except Exception:
        return 0


def _queue():
    """The process's one broker. django-q2 makes a new one for every message unless given one, and
    a new Redis broker is a new connection and handshake: several milliseconds a doorbell."""
    global _broker
    if _broker is None:
        _broker = get_broker()
    return _broker


_broker = None


def rering_seconds() -> float:
    return float(getattr(settings, "RUN_RERING_SECONDS", 30))


def run_retry(*, run: Run, actor=None) -> Run:
    """Retry a failed run from its failed step (workflows' run history offers this)."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status != Run.Status.FAIL:
            raise ServiceError({"status": ["Only failed runs can be retried."]})
        # The failed step's record stays; its next attempt counts on from there.
        locked.status = Run.Status.PENDING
        locked.errors = []
        locked.finished_at = None
        locked.save(update_fields=["status", "errors", "finished_at"])
        transaction.on_commit(lambda: run_enqueue(locked.pk))
    return locked
