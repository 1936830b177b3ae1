"""The run store: every statement the engine makes on runs and their step records.

Claims and leases, moves of a run's cursor, parking and ending runs, and step records. Every write
that depends on holding a run's lease checks it in the same statement (`WHERE lease_owner = ...`),
so a worker that lost its lease changes nothing.

The engine's hottest statements are plain SQL: on this kind of machine compiling an ORM query
costs several times the database round trip it makes, and a run takes several of them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from actions.models import Run, StepRun
from actions.program import cursor_path, step_at
from actions.steps.base import StepResult
from flows.models import User
from flowsite.rows import columns_of, from_values, placeholders, planned, sql
from tasks.models import Task
from tasks.selectors import task_with_relations, task_with_relations_from_row, task_with_relations_sql


def lease_seconds() -> float:
    return float(getattr(settings, "RUN_LEASE_SECONDS", 90))


@dataclass
class Claim:
    """A run leased to `owner`, as the claim left it in memory (the row's own values)."""

    run: Run
    owner: str
    # The claim started the run (it had never started): handing it back undoes the start.
    first: bool
    # The record of the step to run next, made as running in the transaction that claimed the run
    # or completed the step before, so a first attempt costs no statement of its own.
    next_step_run: StepRun | None = None
    # The record of the step at the cursor as the claim read it (a due wait's), when it did.
    step_run: StepRun | None = None
    # What the run was before the claim (pending, or waiting for a time that has come).
    status_before: str = Run.Status.PENDING
    # The run's task with its relations, read by the one-run claim under the task's row lock: the
    # first step's task, so that step does not read it again.
    task: Task | None = None

    @property
    def pk(self) -> int:
        """The claimed run's id: a claim stands for its run wherever runs are listed by id."""
        return self.run.pk


# ---------------------------------------------------------------- helpers


def _when(value):
    return connection.ops.adapt_datetimefield_value(value)


# ---------------------------------------------------------------- new runs


def runs_insert(runs: list[Run]) -> list[Run]:
    """Insert new runs, their ids in the list's order: the INSERT `bulk_create` makes, written once per
    connection. Compiling it was a tenth of a worker's CPU at the relay's trickle, where a dispatch
    inserts a run or two (bench/README.md, "Relay, the worker's CPU"). Each value is prepared by its
    field as the ORM prepares it (`created_at` is stamped, JSON adapted)."""
    db, (head, fields) = planned("runs_insert", _runs_insert_plan)
    if not db.features.can_return_rows_from_bulk_insert:
        return Run.objects.bulk_create(runs)
    # SQLite takes at most 999 parameters a statement.
    size = max(1, min(1000, db.ops.bulk_batch_size(fields, runs)))
    row = f"({placeholders(fields)})"
    with transaction.atomic(savepoint=False):  # several statements for many runs: all or none
        for start in range(0, len(runs), size):
            chunk = runs[start : start + size]
            params = [field.get_db_prep_save(field.pre_save(run, True), db) for run in chunk for field in fields]
            rows = sql(f"{head} VALUES {', '.join([row] * len(chunk))} RETURNING id", params)
            # PostgreSQL and SQLite return a multi-row VALUES insert's ids in the rows' order (the
            # ORM's bulk_create relies on it too).
            for run, (new_id,) in zip(chunk, rows, strict=True):
                run.pk = new_id
                run._state.adding, run._state.db = False, db.alias
    return runs


def _runs_insert_plan(db) -> tuple[str, list]:
    fields = [field for field in Run._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(db.ops.quote_name(field.column) for field in fields)
    return f"INSERT INTO {db.ops.quote_name(Run._meta.db_table)} ({columns})", fields


# ---------------------------------------------------------------- claims and leases


def run_claim(run_id: int, owner: str) -> Claim | None:
    """Take the lease on a run if it is due and nobody holds it, and no other run on the
    same task is running (runs on one task are serialized, so merges never overwrite)."""
    now = timezone.now()
    with transaction.atomic():
        run = _run_with_performer(run_id)
        if run is None or run.is_finished:
            return None
        if run.status == Run.Status.WAITING and run.wake_at and run.wake_at > now:
            return None
        if run.status == Run.Status.RUNNING and run.lease_expires_at and run.lease_expires_at > now:
            return None
        task = None
        if run.task_id:
            # The task row lock makes the "is another run busy on this task" check race-free. The
            # task is read whole under it: the first step needs it, with its flow and organization.
            task = task_with_relations(task_id=run.task_id, lock=True)
            if _task_busy(run, now):
                return None
        claim = _lease(run, owner, now, now + timedelta(seconds=lease_seconds()))
        claim.task = task
        update = (
            "UPDATE actions_run SET status = %s, lease_owner = %s, lease_expires_at = %s, started_at = %s WHERE id = %s"
        )
        params = [run.status, owner, _when(run.lease_expires_at), _when(run.started_at), run.pk]
        # The first step's record with it: one round trip fewer before the call.
        _sql_then_new_step(update, params, claim.next_step_run)
    return claim


def _run_with_performer(run_id: int) -> Run | None:
    """The run, its row locked, with the person who performed it (the steps' user) in the same
    statement: a run the claim takes needs both, and a second read is a round trip before the call."""
    db, (statement, run_fields, user_fields) = planned("run_with_performer", _run_with_performer_plan)
    with db.cursor() as cursor:
        cursor.execute(statement, [run_id])
        row = cursor.fetchone()
    if row is None:
        return None
    run = from_values(db, Run, run_fields, row[: len(run_fields)])
    performer = row[len(run_fields) :]
    if performer[0] is not None:  # a workflow's run has nobody
        run.performed_by = from_values(db, User, user_fields, performer)
    return run


def _run_with_performer_plan(db) -> tuple[str, list, list]:
    quote = db.ops.quote_name
    run_columns, run_fields = columns_of(db, Run, "r")
    user_columns, user_fields = columns_of(db, User, "u")
    # Only the run's row is locked (SQLite has no row locks: its write transaction is the lock).
    lock = " FOR UPDATE OF r" if db.features.has_select_for_update_of else ""
    statement = (
        f"SELECT {', '.join(run_columns + user_columns)} FROM {quote(Run._meta.db_table)} r"
        f" LEFT JOIN {quote(User._meta.db_table)} u ON u.id = r.performed_by_id WHERE r.id = %s{lock}"
    )
    return statement, run_fields, user_fields


def run_claimable(run_id: int) -> bool:
    """Whether `run_claim` could take the run now, by a plain read (no transaction, no lock): a
    doorbell for a run another worker took or ended costs one statement instead of a locked read
    in a transaction of its own. `run_claim` checks again under the lock."""
    now = _when(timezone.now())
    return bool(
        sql(
            "SELECT 1 FROM actions_run WHERE id = %s AND (status = %s"
            " OR (status = %s AND (wake_at IS NULL OR wake_at <= %s))"
            " OR (status = %s AND (lease_expires_at IS NULL OR lease_expires_at <= %s)))",
            [run_id, Run.Status.PENDING, Run.Status.WAITING, now, Run.Status.RUNNING, now],
        )
    )


def _lease(run: Run, owner: str, now: datetime, lease: datetime) -> Claim:
    """Mark a claimed run in memory as leased to `owner`. A run that never started gets its first
    step's record, not yet saved: a run's very first step is recorded as running in the claim's own
    transaction (it has no step records yet, so they can be inserted blind)."""
    first = run.started_at is None
    claim = Claim(run=run, owner=owner, first=first, status_before=run.status)
    run.status, run.lease_owner, run.lease_expires_at = Run.Status.RUNNING, owner, lease
    run.started_at = run.started_at or now
    step = step_at(run.program, run.cursor) if first else None
    if step is not None:
        claim.next_step_run = StepRun(run=run, **_new_step_run(run, step, run.cursor))
    return claim


def _task_busy(run: Run, now: datetime) -> bool:
    """Another run holds a live lease on the run's task, or (first come, first served) an earlier
    run on it is still pending."""
    statement = "SELECT 1 FROM actions_run WHERE task_id = %s AND id <> %s AND ((status = %s AND lease_expires_at > %s)"
    params = [run.task_id, run.pk, Run.Status.RUNNING, _when(now)]
    if run.status == Run.Status.PENDING:
        statement += " OR (status = %s AND id < %s)"
        params += [Run.Status.PENDING, run.pk]
    return bool(sql(statement + ") LIMIT 1", params))


# Runs of a batch that are not busy: another run on the task holds a live lease, or (pending runs
# only) an earlier run on it is still pending (first come, first served). The claim's `_task_busy`,
# for many at once.
_BUSY = (
    "SELECT r.id FROM actions_run r WHERE r.id IN ({ids}) AND EXISTS (SELECT 1 FROM actions_run o"
    " WHERE o.task_id = r.task_id AND o.id <> r.id AND ((o.status = %s AND o.lease_expires_at > %s)"
    " OR (r.status = %s AND o.status = %s AND o.id < r.id)))"
)


def runs_claim(run_ids: list[int], owner: str, *, limit: int, due: bool = False) -> list[Claim]:
    """Claim up to `limit` of these runs that are still pending (`due`: waiting runs whose time has
    come), by the rules of `run_claim`, in one transaction of six or seven statements however many it
    takes (the drain's claim). Only runs of one workflow or action go in a batch, so a receiver that
    hangs delays only its own workflow's runs, and only one run of a task, so runs on one task never
    overlap. Rows other workers are claiming are skipped, not waited for (PostgreSQL; SQLite's one
    writer serializes). A due run's claim carries the record of the step it waits in."""
    if not run_ids:
        return []
    now = timezone.now()
    skip = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    if due:
        which, params = "status = %s AND wake_at <= %s", [Run.Status.WAITING, _when(now)]
    else:
        which, params = "status = %s", [Run.Status.PENDING]
    # The rows through the planned columns, not RawQuerySet, whose per-query set-up was a third of
    # the claim's CPU at a trickle (a claim of a run or two).
    db, (columns, fields) = planned("runs_claim", lambda db: columns_of(db, Run, "r"))
    with transaction.atomic():
        rows = sql(
            f"SELECT {', '.join(columns)} FROM actions_run r WHERE r.id IN ({placeholders(run_ids)}) AND {which}"
            f" ORDER BY r.id LIMIT %s{skip}",
            [*run_ids, *params, limit],
        )
        runs = [from_values(db, Run, fields, row) for row in rows]
        if runs:
            kind = (runs[0].workflow_id, runs[0].action_id)
            runs = [run for run in runs if (run.workflow_id, run.action_id) == kind]
            # One run per task (the earliest): a batch never holds two runs of one task.
            first_of_task: dict[int, Run] = {}
            for run in runs:
                first_of_task.setdefault(run.task_id or -run.pk, run)
            runs = list(first_of_task.values())
        task_ids = sorted({run.task_id for run in runs if run.task_id})
        if task_ids:
            # The task rows' locks make the busy check race-free, as in run_claim.
            free = {
                row[0]
                for row in sql(
                    f"SELECT id FROM tasks_task WHERE id IN ({placeholders(task_ids)}) ORDER BY id{skip}",
                    task_ids,
                )
            }
            candidates = [run.pk for run in runs]
            busy = {
                row[0]
                for row in sql(
                    _BUSY.format(ids=placeholders(candidates)),
                    [*candidates, Run.Status.RUNNING, _when(now), Run.Status.PENDING, Run.Status.PENDING],
                )
            }
            runs = [run for run in runs if not run.task_id or (run.task_id in free and run.pk not in busy)]
        if not runs:
            return []
        lease = now + timedelta(seconds=lease_seconds())
        claimed = [run.pk for run in runs]
        update = (
            "UPDATE actions_run SET status = %s, lease_owner = %s, lease_expires_at = %s,"
            f" started_at = COALESCE(started_at, %s) WHERE id IN ({placeholders(claimed)})"
        )
        params = [Run.Status.RUNNING, owner, _when(lease), _when(now), *claimed]
        claims = [_lease(run, owner, now, lease) for run in runs]
        _sql_then_new_steps(
            update, params, [claim.next_step_run for claim in claims if claim.next_step_run is not None]
        )
        if due:
            _step_runs_at_cursor(claims)
    return claims


def _step_runs_at_cursor(claims: list[Claim]) -> None:
    """Hand each claim the record of the step at its run's cursor, read in one statement."""
    wanted = {(claim.pk, cursor_path(claim.run.cursor)): claim for claim in claims}
    records = StepRun.objects.filter(run_id__in=[claim.pk for claim in claims], path__in={path for _pk, path in wanted})
    for record in records:
        claim = wanted.get((record.run_id, record.path))
        if claim is not None:
            claim.step_run = record


def claims_hand_back(claims: list[Claim], owner: str) -> None:
    """Give claimed runs that never started back to the table, as they were before the claim."""
    if not claims:
        return
    with transaction.atomic():
        for status in sorted({claim.status_before for claim in claims}):
            ids = [claim.pk for claim in claims if claim.status_before == status]
            sql(
                "UPDATE actions_run SET status = %s, lease_owner = '', lease_expires_at = NULL"
                f" WHERE id IN ({placeholders(ids)}) AND lease_owner = %s AND status = %s",
                [status, *ids, owner, Run.Status.RUNNING],
            )
        fresh = [claim.pk for claim in claims if claim.first]
        if fresh:
            # The claim made their first step's record and start time: as if never claimed, so the
            # next claim counts the first attempt as the first.
            sql(
                f"UPDATE actions_run SET started_at = NULL WHERE id IN ({placeholders(fresh)})",
                fresh,
            )
            StepRun.objects.filter(run_id__in=fresh).delete()


def run_still_ours(run: Run, owner: str) -> bool:
    """Lock the run's row if its lease is still `owner`'s (in the caller's transaction)."""
    ours = Run.objects.select_for_update().filter(pk=run.pk, lease_owner=owner, status=Run.Status.RUNNING)
    return ours.first() is not None


# ---------------------------------------------------------------- moves


def run_move(run: Run, owner: str, cursor: list, *, last: bool = False) -> datetime | None | bool:
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


def runs_end(ends: list[tuple[Run, str, list]]) -> set[int]:
    """`run_move(..., last=True)` for many runs (run, owner, cursor past its last step): each ends as
    a success if its lease is still its owner's, in one statement per owner and cursor (a batch's
    runs mostly share both). Returns the ids of the runs that ended; call in a transaction."""
    now = _when(timezone.now())
    groups: dict[tuple[str, str], list[int]] = {}
    for run, owner, cursor in ends:
        groups.setdefault((owner, json.dumps(cursor)), []).append(run.pk)
    ended: set[int] = set()
    for (owner, cursor), ids in groups.items():
        rows = sql(
            "UPDATE actions_run SET cursor = %s, lease_expires_at = NULL, status = %s, finished_at = %s,"
            f" lease_owner = '', wake_at = NULL WHERE id IN ({placeholders(ids)}) AND lease_owner = %s"
            " AND status = %s RETURNING id",
            [cursor, Run.Status.SUCCESS, now, *ids, owner, Run.Status.RUNNING],
        )
        ended.update(row[0] for row in rows)
    return ended


def run_step_done(
    run: Run,
    owner: str,
    cursor: list,
    step_run: StepRun,
    next_step: dict | None,
    *,
    apply=None,
    read_task: bool = False,
) -> tuple[datetime | None | bool, StepRun | None, Task | None]:
    """A step (`step_run`, marked by `step_run_mark`) is done: move the run's cursor on and renew its
    lease, or end it as a success when `next_step` is None, record the step and start the next one's
    record, all only if the lease is still ours. `apply()` (the step's changes to the database) runs
    in the same transaction, before the record, since it may add to the step's output; a lease found
    lost rolls it back. Returns the new lease's expiry (None once the run ended) or False when the
    run is no longer ours, the next step's record, and the run's task when `read_task` asked for it
    and the database could read it with the record (as `task_with_relations` reads it; else None).
    Makes its own transaction (or joins the caller's).

    On PostgreSQL the move, the record, the next step's record and the task's read are one statement
    (data-modifying WITH): without `apply` atomic by itself, so it needs no BEGIN and COMMIT of its
    own; with `apply` after it, in one transaction. Elsewhere the move proves the lease ours before
    `apply`, then the record: three statements in a transaction."""
    last = next_step is None
    prepared = None if last else StepRun(run=run, **_new_step_run(run, next_step, cursor))
    if connection.vendor == "postgresql":
        task_id = run.task_id if read_task else None
        if apply is None:
            return _step_done_in_one(run, owner, cursor, step_run, prepared, task_id)
        try:
            with transaction.atomic():
                # The run row is locked after the task rows `apply` locks, where a claim locks the
                # run first; the two meet only when another worker takes over this run after its
                # lease expired, and then PostgreSQL's deadlock check ends one of them.
                apply()
                done = _step_done_in_one(run, owner, cursor, step_run, prepared, None)
                if done[0] is False:
                    raise _LeaseLost
                return done
        except _LeaseLost:
            return False, None, None
    with transaction.atomic():
        lease, prepared = _step_done(run, owner, cursor, step_run, prepared, apply=apply)
    return lease, prepared, None


class _LeaseLost(Exception):
    """Rolls back a step's changes once the statement that records it finds the lease gone."""


def _step_done(
    run: Run, owner: str, cursor: list, step_run: StepRun, prepared: StepRun | None, *, apply=None
) -> tuple[datetime | None | bool, StepRun | None]:
    moved = run_move(run, owner, cursor, last=prepared is None)
    if moved is False:
        return False, None
    if apply is not None:
        apply()
    _sql_then_new_step(_STEP_RUN_RECORD, _step_run_params(step_run), prepared)
    return moved, prepared


def _sql_then_new_step(statement: str, params: list, prepared: StepRun | None) -> None:
    """`statement` (an UPDATE), then the new step record `prepared` if there is one."""
    _sql_then_new_steps(statement, params, [] if prepared is None else [prepared])


def _sql_then_new_steps(statement: str, params: list, prepared: list[StepRun]) -> None:
    """`statement` (an UPDATE), then the new step records `prepared`: on PostgreSQL both in one
    statement (a data-modifying WITH), one round trip fewer."""
    if not prepared:
        sql(statement, params)
        return
    if connection.vendor != "postgresql":
        sql(statement, params)
        StepRun.objects.bulk_create(prepared)
        return
    values = ", ".join([f"({placeholders(_NEW_STEP_COLUMNS)})"] * len(prepared))
    rows = sql(
        f"WITH head AS ({statement}) INSERT INTO actions_steprun ({', '.join(_NEW_STEP_COLUMNS)})"
        f" VALUES {values} RETURNING id",
        [*params, *(value for step_run in prepared for value in _new_step_params(step_run))],
    )
    # PostgreSQL returns a multi-row VALUES insert's ids in the rows' order (the ORM's bulk_create
    # relies on it too).
    for step_run, (new_id,) in zip(prepared, rows, strict=True):
        step_run.pk, step_run._state.adding = new_id, False


def _step_done_in_one(
    run: Run, owner: str, cursor: list, step_run: StepRun, prepared: StepRun | None, task_id: int | None
) -> tuple[datetime | None | bool, StepRun | None, Task | None]:
    """`run_step_done` in one statement (PostgreSQL), reading the task `task_id` with it if given:
    the statement's snapshot is taken as it starts, so the read is as fresh as one right after."""
    now = timezone.now()
    lease = None if prepared is None else now + timedelta(seconds=lease_seconds())
    move = "cursor = %s, lease_expires_at = %s"
    params: list = [json.dumps(cursor), _when(lease)]
    if prepared is None:
        move += ", status = %s, finished_at = %s, lease_owner = '', wake_at = NULL"
        params += [Run.Status.SUCCESS, _when(now)]
    statement = (
        f"WITH moved AS (UPDATE actions_run SET {move} WHERE id = %s AND lease_owner = %s AND status = %s"
        f" RETURNING id), done AS ({_STEP_RUN_RECORD} AND EXISTS (SELECT 1 FROM moved))"
    )
    params += [run.pk, owner, Run.Status.RUNNING, *_step_run_params(step_run)]
    if prepared is not None:
        statement += (
            f", new AS (INSERT INTO actions_steprun ({', '.join(_NEW_STEP_COLUMNS)})"
            f" SELECT {placeholders(_NEW_STEP_COLUMNS)} WHERE EXISTS (SELECT 1 FROM moved) RETURNING id)"
            " SELECT (SELECT count(*) FROM moved), (SELECT id FROM new)"
        )
        params += _new_step_params(prepared)
    else:
        statement += " SELECT (SELECT count(*) FROM moved), NULL"
    if task_id is not None:
        select, tree = task_with_relations_sql()
        statement += f", {select} FROM (SELECT 1) AS one LEFT JOIN ({tree}) ON t.id = %s"
        params.append(task_id)
    [(moved, new_id, *task_row)] = sql(statement, params)
    if not moved:
        return False, None, None
    if prepared is not None:
        prepared.pk, prepared._state.adding = new_id, False
    return lease, prepared, task_with_relations_from_row(tuple(task_row)) if task_row else None


_NEW_STEP_COLUMNS = [
    "run_id", "path", "step_id", "type", "status", "attempts", "idempotency_key",
    "request", "response", "output", "error", "started_at", "finished_at", "duration_ms",
]  # fmt: skip


def _new_step_params(step_run: StepRun) -> list:
    json_or_none = [None if value is None else json.dumps(value) for value in (step_run.request, step_run.response)]
    return [
        step_run.run_id, step_run.path, step_run.step_id, step_run.type, step_run.status, step_run.attempts,
        step_run.idempotency_key, *json_or_none, None if step_run.output is None else json.dumps(step_run.output),
        step_run.error, _when(step_run.started_at), _when(step_run.finished_at), step_run.duration_ms,
    ]  # fmt: skip


def run_park(run: Run, wake_at: datetime) -> None:
    """Release the run until `wake_at` (a wait, or a retry later)."""
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.WAITING, wake_at=wake_at, lease_owner="", lease_expires_at=None
    )
    run.status = Run.Status.WAITING


def run_finish(run: Run, owner: str, status: str, *, errors: list | None = None) -> None:
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


# ---------------------------------------------------------------- step records


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


def step_run_get_or_create(run: Run, step: dict, cursor: list) -> tuple[StepRun, bool]:
    """The step's record, made as running its first attempt if no earlier claim reached the step."""
    new_step = _new_step_run(run, step, cursor)
    path = new_step.pop("path")
    return StepRun.objects.get_or_create(run=run, path=path, defaults=new_step)


def step_run_count_attempt(step_run: StepRun) -> None:
    """Another attempt (after a crash, a lost lease or a retry): counted before calling out."""
    step_run.attempts += 1
    step_run.status = StepRun.Status.RUNNING
    step_run.started_at = step_run.started_at or timezone.now()
    step_run.save(update_fields=["attempts", "status", "started_at"])


def step_run_record(step_run: StepRun, status: str, **ended) -> None:
    """Record how an attempt at a step ended (`ended`: step_run_mark's `result`, or the error and
    what went out and came back, and `started`)."""
    step_run_mark(step_run, status, **ended)
    sql(_STEP_RUN_RECORD, _step_run_params(step_run))


def step_runs_save(step_runs: list[StepRun]) -> None:
    """Save how many steps ended (each marked by `step_run_mark`), in one round trip: psycopg
    pipelines an executemany."""
    if step_runs:
        with connection.cursor() as cursor:
            cursor.executemany(_STEP_RUN_RECORD, [_step_run_params(step_run) for step_run in step_runs])


_STEP_RUN_RECORD = (
    "UPDATE actions_steprun SET status = %s, error = %s, output = %s, request = %s, response = %s,"
    " finished_at = %s, duration_ms = %s WHERE id = %s"
)


def step_run_mark(
    step_run: StepRun,
    status: str,
    *,
    result: StepResult | None = None,
    error: str = "",
    output: dict | None = None,
    request: dict | None = None,
    response: dict | None = None,
    started: float | None = None,
) -> None:
    """How an attempt at a step ended, in memory (step_run_record and step_runs_save save it):
    `result` when it ran, or the error and what went out and came back; `started`
    (time.monotonic()) gives its duration."""
    now = timezone.now()
    step_run.status = status
    step_run.error = error
    if result is not None:
        step_run.output = result.output
        if result.wait_until is not None:
            step_run.output = {**(result.output or {}), "wait_until": result.wait_until.isoformat()}
        request, response = result.request, result.response
    if output is not None:
        step_run.output = output
    if request is not None:
        step_run.request = request
    if response is not None:
        step_run.response = response
    if status != StepRun.Status.WAITING or step_run.finished_at is None:
        step_run.finished_at = now
    if started is not None:
        step_run.duration_ms = round((time.monotonic() - started) * 1000, 2)


def _step_run_params(step_run: StepRun) -> list:
    return [
        step_run.status,
        step_run.error,
        *(
            None if value is None else json.dumps(value)
            for value in (step_run.output, step_run.request, step_run.response)
        ),
        _when(step_run.finished_at),
        step_run.duration_ms,
        step_run.pk,
    ]


# ---------------------------------------------------------------- finding work

# Runs a claim would take: pending, and their task has no earlier pending run and no run in progress.
_READY = (
    "SELECT r.id FROM actions_run r WHERE r.status = %s AND NOT EXISTS (SELECT 1 FROM actions_run o"
    " WHERE o.task_id = r.task_id AND o.id <> r.id"
    " AND (o.status = %s OR (o.status = %s AND o.id < r.id))) ORDER BY r.id LIMIT %s"
)
_DUE = "SELECT id FROM actions_run WHERE status = %s AND wake_at <= %s ORDER BY wake_at LIMIT %s"


def runs_ready(limit: int = 32) -> list[int]:
    """Up to `limit` runs a claim would take, oldest first."""
    return [row[0] for row in sql(_READY, [Run.Status.PENDING, Run.Status.RUNNING, Run.Status.PENDING, limit])]


def runs_due(limit: int = 16) -> list[int]:
    """Up to `limit` waiting runs whose time has come, the longest overdue first."""
    return [row[0] for row in sql(_DUE, [Run.Status.WAITING, _when(timezone.now()), limit])]


def runs_mark_rung(*, now: datetime, rung_before: datetime, pending_before: datetime | None) -> list[int]:
    """Up to 500 runs that need a worker and were not rung since `rung_before`, marked as rung now:
    due waits, expired leases and, when `pending_before` is given, runs pending since before it.
    Each is taken by one sweeper only, however many sweep at once."""
    due = Q(status=Run.Status.WAITING, wake_at__lte=now) | Q(status=Run.Status.RUNNING, lease_expires_at__lte=now)
    if pending_before is not None:
        due |= Q(status=Run.Status.PENDING, created_at__lte=pending_before)
    needs_worker = due & (Q(rung_at__isnull=True) | Q(rung_at__lte=rung_before))
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
    return rung


def runs_next_on_tasks(task_ids: list[int]) -> list[int]:
    """`run_next_on_task` for many tasks at once: the first pending run of each."""
    if not task_ids:
        return []
    return [
        row[0]
        for row in sql(
            f"SELECT MIN(id) FROM actions_run WHERE task_id IN ({placeholders(task_ids)}) AND status = %s"
            " GROUP BY task_id",
            [*task_ids, Run.Status.PENDING],
        )
    ]


def run_next_on_task(run: Run) -> int | None:
    """The pending run waiting its turn after this one on its task."""
    waiting = sql(
        "SELECT id FROM actions_run WHERE task_id = %s AND status = %s AND id <> %s ORDER BY id LIMIT 1",
        [run.task_id, Run.Status.PENDING, run.pk],
    )
    return waiting[0][0] if waiting else None
