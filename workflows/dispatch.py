"""From task events to workflow runs: match the event against active workflows' triggers and
filters, and start a run for each match. Bounded: a change made by a workflow run is one link
deeper than its trigger, and past MAX_WORKFLOW_DEPTH no run starts (a failed run says why).

Task events are an outbox. A write records its events in its own transaction and, after commit,
rings the outbox's doorbell (events_enqueue); a dispatcher thread in every worker process
(workflows.jobs) wakes at the ring, takes undispatched events in batches (SKIP LOCKED on
PostgreSQL; SQLite's IMMEDIATE transactions take one writer at a time), matches them, and creates
the runs in the transaction that marks the events dispatched: an event yields its runs exactly once,
whatever process dies when. The runs' doorbells wake the drain; the sweeper is the backstop for
events no dispatcher took."""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from actions.engine import run_build, runs_create
from actions.models import Run
from flows.models import CacheVersion, Flow
from flows.selectors import flow_read_now, version_cached
from flowsite import doorbell
from flowsite.rows import columns_of, from_values, placeholders, planned, sql
from tasks.models import Task, TaskEvent
from tasks.selectors import tasks_with_relations
from tasks.services import flow_fields, task_to_json
from workflows.conditions import evaluate, has_conditions
from workflows.models import Workflow
from workflows.triggers import trigger_types_for_change

logger = logging.getLogger(__name__)


def max_depth() -> int:
    return int(getattr(settings, "MAX_WORKFLOW_DEPTH", 5))


def program_for(workflow: Workflow) -> list[dict]:
    """The workflow's actions as the engine's program: nested branch actions in the API's
    {"actionType", "config"} form become {"id", "type", "config"} steps."""

    def convert(items: list, prefix: str) -> list[dict]:
        out = []
        for index, item in enumerate(items or []):
            step_id = str(item.get("id") or f"{prefix}{index}")
            out.append(
                {
                    "id": step_id,
                    "type": item.get("actionType") or item.get("type"),
                    "config": nested(item.get("config") or {}, step_id),
                }
            )
        return out

    def nested(config: dict, step_id: str) -> dict:
        if not isinstance(config, dict):
            return config
        config = dict(config)
        for label in ("then", "else"):
            if isinstance(config.get(label), list):
                config[label] = convert(config[label], f"{step_id}.{label}.")
        return config

    return [
        {"id": str(action.pk), "type": action.action_type, "config": nested(action.config, str(action.pk))}
        for action in workflow.actions.all()
    ]


# ---------------------------------------------------------------- the outbox

# A dispatcher dispatches for at most this long at a time (then looks again).
DISPATCH_SECONDS = 5.0
# Rounds in a row that found only events whose task has an earlier event held by another worker,
# before this worker leaves them to that worker (which goes on after its commit) or to the sweeper.
HELD_ROUNDS = 5
# Errors that say the database, not the event, is the trouble: the batch is rolled back and retried.
_DATABASE_DOWN = (OperationalError, InterfaceError)


def events_enqueue() -> None:
    """Called after every commit that recorded task events (the hook WorkflowsConfig.ready()
    subscribes): ring the outbox's doorbell, which wakes the dispatcher thread of every worker
    process (workflows.jobs; NOTIFY on PostgreSQL, reaching every machine; a datagram to this
    machine's workers on SQLite), and this process's own at once. Nothing is queued: an event waits in
    no queue, and a lost ring only delays it to the dispatcher's next look."""
    dispatch_wake.set()
    try:
        doorbell.ring(OUTBOX_TOPIC)
    except Exception:  # the write has committed; the dispatchers look on their own too
        logger.warning("could not ring the task events' doorbell", exc_info=True)


# The doorbell's topic (flowsite.doorbell) for "task events were committed".
OUTBOX_TOPIC = "task_events"
# Set to wake this process's dispatcher thread before its next look at the outbox.
dispatch_wake = threading.Event()


def events_pending() -> bool:
    """Whether any task event waits to be dispatched: one read of the outbox's partial index."""
    return bool(sql(f"SELECT 1 FROM {_EVENTS} WHERE dispatched_at IS NULL LIMIT 1", []))


# The outbox's statements are written out, not built by the ORM: every dispatcher runs them at every
# doorbell, mostly for an event or two, and compiling them was a fifth of a worker's CPU at the
# relay's trickle (bench/README.md, "Relay, the worker's CPU").
_EVENTS = TaskEvent._meta.db_table


def events_dispatch(*, budget_seconds: float = DISPATCH_SECONDS, batch: int | None = None) -> int:
    """Dispatch undispatched task events to the workflows, oldest first, a batch per transaction,
    until none is left that this worker may take or the budget is spent. Returns how many events
    were dispatched."""
    batch = batch or int(getattr(settings, "EVENT_DISPATCH_BATCH", 200))
    deadline = time.monotonic() + budget_seconds
    done = held = 0
    while time.monotonic() < deadline:
        taken, waiting = _dispatch_batch(limit=batch)
        done += taken
        if taken and not waiting and taken < batch:
            # The batch took all there was: an event committed since rings again (events_enqueue),
            # so another look now would cost a transaction that mostly finds nothing.
            return done
        if taken:
            held = 0
        elif not waiting:
            return done
        else:
            # Every event this worker could take waits for an earlier event of its task that
            # another worker holds: give it a moment to commit.
            held += 1
            if held >= HELD_ROUNDS:
                return done
            time.sleep(0.01 * held)
    return done  # out of time, not necessarily out of work: the next look goes on


def _dispatch_batch(*, limit: int) -> tuple[int, int]:
    """One transaction: take up to `limit` undispatched events, start the runs of those that may go
    now, mark them dispatched. Returns (dispatched, held back for their task's earlier event)."""
    db, (columns, fields) = planned("task_events", lambda db: columns_of(db, TaskEvent, "e"))
    with transaction.atomic():
        # SQLite has no row locks (nor this clause): its IMMEDIATE transaction is the one writer.
        skip = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
        # The events are read whole as they are claimed: a dispatch at the relay's trickle takes an
        # event or two, and a second read of them was a round trip of its own before their runs.
        rows = sql(
            f"SELECT {', '.join(columns)} FROM {_EVENTS} e WHERE e.dispatched_at IS NULL ORDER BY e.id LIMIT %s{skip}",
            [limit],
        )
        if not rows:
            return 0, 0
        claimed = [from_values(db, TaskEvent, fields, row) for row in rows]
        ready = _in_task_order([(event.pk, event.task_ref) for event in claimed])
        if ready:
            wanted = set(ready)
            events = _with_tasks([event for event in claimed if event.pk in wanted])
            failed = _start_runs(events)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {_EVENTS} SET dispatched_at = %s WHERE id IN ({placeholders(ready)})"
                    " AND dispatched_at IS NULL",
                    [connection.ops.adapt_datetimefield_value(timezone.now()), *ready],
                )
                marked = cursor.rowcount
            if marked != len(ready):  # the rows are ours (locked, or SQLite's one writer): never happens
                raise RuntimeError(f"task events dispatched twice: {marked} of {len(ready)} still pending")
            for event_id, reason in failed.items():
                TaskEvent.objects.filter(pk=event_id).update(dispatch_error=reason)
    return len(ready), len(claimed) - len(ready)


def _with_tasks(events: list[TaskEvent]) -> list[TaskEvent]:
    """The events, each with its task (its stage, assignee, flow and organization) read by the
    worker's planned task read (tasks.selectors): an ORM query joining all five cost a third of a
    dispatch's CPU in a profile of the relay, where a dispatch takes an event or two. An event's flow
    is its task's, read just now (so the flow's fields may come from the process's cache)."""
    tasks = tasks_with_relations(task_ids=sorted({event.task_id for event in events if event.task_id}))
    for event in events:
        task = tasks.get(event.task_id)
        event.task = task
        if task is not None and task.flow_id == event.flow_id:
            event.flow = flow_read_now(task.flow)
    return events


def _in_task_order(claimed: list[tuple[int, int]]) -> list[int]:
    """The claimed events that may be dispatched now: per task, those before the first of its
    undispatched events that this worker did not claim (another worker holds it). So a later event's
    runs are never created before an earlier event's, however many workers dispatch at once. (Events
    of one task commit in id order: every write locks the task's row.)"""
    mine = {event_id for event_id, _task in claimed}
    tasks = sorted({task for _event, task in claimed})
    pending = sql(
        f"SELECT id, task_ref FROM {_EVENTS} WHERE dispatched_at IS NULL AND task_ref IN ({placeholders(tasks)})"
        " AND id <= %s ORDER BY id",
        [*tasks, max(mine)],
    )
    blocked: set[int] = set()
    ready = []
    for event_id, task in pending:
        if task in blocked:
            continue
        if event_id in mine:
            ready.append(event_id)
        else:
            blocked.add(task)
    return ready


def _start_runs(events: list[TaskEvent]) -> dict[int, str]:
    """Start the runs the events' matches call for, a batch's together (see fire_many). Returns
    {event id: why matching it failed}: a failing event is dispatched with its reason, and must not
    hold up the others (nor, since it counts as dispatched, its task's later events)."""
    failed: dict[int, str] = {}
    try:
        with transaction.atomic():
            _fire_events(events, failed)
        return failed
    except _DATABASE_DOWN:
        raise
    except Exception:
        logger.warning("dispatching %s task events together failed; one at a time now", len(events), exc_info=True)
    failed = {}
    for event in events:
        try:
            with transaction.atomic():
                _fire_events([event], failed)
        except _DATABASE_DOWN:
            raise
        except Exception as exc:
            logger.exception("task event %s could not be dispatched", event.pk)
            failed[event.pk] = f"Dispatching this event failed: {type(exc).__name__}: {exc}"
    return failed


def _fire_events(events: list[TaskEvent], failed: dict[int, str]) -> None:
    matches = [match for match in map(_triggered, events) if match is not None]
    if matches:
        fire_many(matches, failed=failed)


def flow_has_triggers(flow: Flow) -> bool:
    """Whether a trigger can listen to the flow's task events: workflows start only for flows that
    play a module."""
    return bool(flow.module)


def _triggered(event: TaskEvent) -> tuple | None:
    """(task, trigger types, context, depth) for an event that some trigger listens to."""
    task = event.task
    if task is None or event.kind == TaskEvent.Kind.DELETED or not flow_has_triggers(event.flow):
        return None
    flow = event.flow
    if not Task.flow.is_cached(task):
        task.flow = flow  # the same row: spare a read per task when a schema change records many
    changes = event.changes or {}
    new_stage = None
    if "Stage" in changes and changes["Stage"][1]:
        if task.stage_id and task.stage.name == changes["Stage"][1]:
            new_stage = task.stage
        else:
            new_stage = flow.stages.filter(name=changes["Stage"][1]).first()
    types = trigger_types_for_change(module=flow.module, kind=event.kind, changes=changes, new_stage=new_stage)
    if not types:
        return None
    context = {
        "event": {"id": event.pk, "kind": event.kind, "source": event.source},
        "old": {name: pair[0] for name, pair in changes.items()},
        # The values this event set: filters judge the event, even if the task moved on since.
        "new": {name: pair[1] for name, pair in changes.items()},
        "changed": list(changes),
    }
    return task, types, context, event.depth


def active_workflows(*, flow: Flow) -> list[Workflow]:
    """The active workflows that listen to the flow's module, its own and its organization's, each
    with its `program`: kept per process under the workflows version, which a trigger replaces with
    every write to workflows and their actions (flows.models.CacheVersion), so a dispatch reads one
    row instead of the workflows and their actions. Shared: callers change none of them."""

    def load() -> list[Workflow]:
        workflows = list(
            Workflow.objects.filter(
                Q(flow__isnull=True) | Q(flow=flow),
                organization_id=flow.organization_id,
                trigger_module=flow.module,
                is_active=True,
            ).prefetch_related("actions")
        )
        for workflow in workflows:
            workflow.program = program_for(workflow)
        return workflows

    return version_cached(CacheVersion.WORKFLOWS, ("workflows", flow.pk, flow.organization_id, flow.module), load)


def fire(*, task: Task, trigger_types: list[str], context: dict[str, Any], depth: int) -> list[Run]:
    """Start a run of every active workflow whose trigger is one of `trigger_types` and whose
    filters match the task."""
    return fire_many([(task, trigger_types, context, depth)])


def fire_many(
    items: list[tuple[Task, list[str], dict[str, Any], int]], *, failed: dict[int, str] | None = None
) -> list[Run]:
    """`fire` for many (task, trigger types, context, depth) at once: a flow's active workflows and
    fields are read once for all its items and the runs are inserted together, so an import or a
    bulk change of thousands of tasks starts its runs in a few statements, in the items' order.

    A workflow whose filters cannot be evaluated gets a failed run saying why (its owner sees it
    with the workflow's runs) and the others go on; `failed`, when given, collects the reasons by
    the item's event id."""
    by_flow: dict[str, list] = {}
    for item in items:
        by_flow.setdefault(item[0].flow_id, []).append(item)
    runs: list[Run] = []
    for flow_items in by_flow.values():
        flow = flow_items[0][0].flow
        wanted = {name for _task, types, _context, _depth in flow_items for name in types}
        workflows = [workflow for workflow in active_workflows(flow=flow) if workflow.trigger_type in wanted]
        if not workflows:
            continue
        fields = flow_fields(flow=flow)
        field_types = {field.name: field.type for field in fields}
        programs: dict = {}
        new_runs: list[Run] = []
        for task, trigger_types, context, depth in flow_items:
            values = old_values = None
            for workflow in workflows:
                if workflow.trigger_type not in trigger_types:
                    continue
                run_context = {**context, "event": {**context.get("event", {}), "type": workflow.trigger_type}}
                if values is None and has_conditions(workflow.trigger_filters):
                    # The task's JSON only for a filter that reads it (most workflows have none).
                    values = {**task_to_json(task=task, fields=fields), **context.get("new", {})}
                    old_values = {**values, **context.get("old", {})}
                try:
                    matched = evaluate(
                        workflow.trigger_filters,
                        values=values or {},
                        field_types=field_types,
                        old_values=old_values,
                        changed=context.get("changed"),
                    )
                except Exception as exc:
                    reason = f"matching its filters failed: {type(exc).__name__}: {exc}"
                    logger.exception("workflow %s not started for task %s: %s", workflow.pk, task.pk, reason)
                    new_runs.append(
                        _not_started(
                            workflow=workflow,
                            task=task,
                            context=run_context,
                            depth=depth,
                            error=f"Not started: {reason}",
                        )
                    )
                    if failed is not None and context.get("event", {}).get("id") is not None:
                        event_id = context["event"]["id"]
                        failed[event_id] = "; ".join(
                            filter(None, [failed.get(event_id), f'Workflow "{workflow.name}": {reason}'])
                        )
                    continue
                if not matched:
                    continue
                if depth >= max_depth():
                    new_runs.append(_stopped_chain(workflow=workflow, task=task, context=run_context, depth=depth))
                    continue
                if workflow.pk not in programs:
                    programs[workflow.pk] = copy.deepcopy(workflow.program)  # the cached one is shared
                new_runs.append(
                    run_build(
                        kind=Run.Kind.WORKFLOW,
                        flow=flow,
                        task=task,
                        name=workflow.name,
                        program=programs[workflow.pk],
                        version=workflow.version,
                        workflow=workflow,
                        context=run_context,
                        depth=depth,
                    )
                )
        runs.extend(runs_create(new_runs))
    return runs


def _stopped_chain(*, workflow: Workflow, task: Task, context: dict, depth: int) -> Run:
    logger.warning("workflow %s not started for task %s: chain depth %s", workflow.pk, task.pk, depth)
    return _not_started(
        workflow=workflow,
        task=task,
        context=context,
        depth=depth,
        error=f"Not started: this change was made {depth} workflow runs deep, the limit is {max_depth()} "
        "(a workflow loop is likely).",
    )


def _not_started(*, workflow: Workflow, task: Task, context: dict, depth: int, error: str) -> Run:
    """A run that ends before it starts, saying why: it is recorded with the others."""
    run = run_build(
        kind=Run.Kind.WORKFLOW,
        flow=task.flow,
        task=task,
        name=workflow.name,
        program=[],
        version=workflow.version,
        workflow=workflow,
        context=context,
        depth=depth,
    )
    run.status = Run.Status.FAIL
    run.errors = [error]
    run.finished_at = timezone.now()
    return run
