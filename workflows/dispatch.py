"""From task events to workflow runs: match the event against active workflows' triggers and
filters, and start a run for each match. Bounded: a change made by a workflow run is one link
deeper than its trigger, and past MAX_WORKFLOW_DEPTH no run starts (a failed run says why)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from actions.engine import run_build, runs_create
from actions.models import Run
from tasks.models import Task, TaskEvent
from tasks.services import flow_fields, task_to_json
from workflows.conditions import evaluate
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


def task_events_recorded(events: list[TaskEvent]) -> None:
    """Called once after the transaction that recorded `events` commits. The events come as
    recorded, with the flow and task objects the write used, so nothing is read back before
    matching; a bulk change's events are matched together (see fire_many)."""
    matches = [match for match in map(_triggered, events) if match is not None]
    if matches:
        fire_many(matches)


def _triggered(event: TaskEvent) -> tuple | None:
    """(task, trigger types, context, depth) for an event that some trigger listens to."""
    task = event.task
    if task is None or event.kind == TaskEvent.Kind.DELETED or not event.flow.module:
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


def fire(*, task: Task, trigger_types: list[str], context: dict[str, Any], depth: int) -> list[Run]:
    """Start a run of every active workflow whose trigger is one of `trigger_types` and whose
    filters match the task."""
    return fire_many([(task, trigger_types, context, depth)])


def fire_many(items: list[tuple[Task, list[str], dict[str, Any], int]]) -> list[Run]:
    """`fire` for many (task, trigger types, context, depth) at once: a flow's active workflows and
    fields are read once for all its items and the runs are inserted together, so an import or a
    bulk change of thousands of tasks starts its runs in a few statements, in the items' order."""
    by_flow: dict[str, list] = {}
    for item in items:
        by_flow.setdefault(item[0].flow_id, []).append(item)
    runs: list[Run] = []
    for flow_items in by_flow.values():
        flow = flow_items[0][0].flow
        workflows = list(
            Workflow.objects.filter(
                Q(flow__isnull=True) | Q(flow=flow),
                organization_id=flow.organization_id,
                trigger_module=flow.module,
                trigger_type__in={name for _task, types, _context, _depth in flow_items for name in types},
                is_active=True,
            ).prefetch_related("actions")
        )
        if not workflows:
            continue
        fields = flow_fields(flow=flow)
        field_types = {field.name: field.type for field in fields}
        programs: dict = {}
        new_runs: list[Run] = []
        for task, trigger_types, context, depth in flow_items:
            values = {**task_to_json(task=task, fields=fields), **context.get("new", {})}
            old_values = {**values, **context.get("old", {})}
            for workflow in workflows:
                if workflow.trigger_type not in trigger_types or not evaluate(
                    workflow.trigger_filters,
                    values=values,
                    field_types=field_types,
                    old_values=old_values,
                    changed=context.get("changed"),
                ):
                    continue
                run_context = {**context, "event": {**context.get("event", {}), "type": workflow.trigger_type}}
                if depth >= max_depth():
                    new_runs.append(_stopped_chain(workflow=workflow, task=task, context=run_context, depth=depth))
                    continue
                if workflow.pk not in programs:
                    programs[workflow.pk] = program_for(workflow)
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
    """A run that ends before it starts, saying why: it is recorded with the others."""
    logger.warning("workflow %s not started for task %s: chain depth %s", workflow.pk, task.pk, depth)
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
    run.errors = [
        f"Not started: this change was made {depth} workflow runs deep, the limit is {max_depth()} "
        "(a workflow loop is likely)."
    ]
    run.finished_at = timezone.now()
    return run
