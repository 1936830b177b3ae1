"""From task events to workflow runs: match the event against active workflows' triggers and
filters, and start a run for each match. Bounded: a change made by a workflow run is one link
deeper than its trigger, and past MAX_WORKFLOW_DEPTH no run starts (a failed run says why)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from actions.engine import run_create
from actions.models import Run
from tasks.models import Task, TaskEvent
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


def field_types_of(flow) -> dict[str, str]:
    return dict(flow.fields.values_list("name", "type"))


def task_event_recorded(event: TaskEvent) -> None:
    """Called after the transaction that recorded `event` commits. The event comes as recorded,
    with the flow and task objects the write used, so nothing is read back before matching."""
    task = event.task
    if task is None or event.kind == TaskEvent.Kind.DELETED or not event.flow.module:
        return
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
        return
    context = {
        "event": {"id": event.pk, "kind": event.kind, "source": event.source},
        "old": {name: pair[0] for name, pair in changes.items()},
        # The values this event set: filters judge the event, even if the task moved on since.
        "new": {name: pair[1] for name, pair in changes.items()},
        "changed": list(changes),
    }
    fire(task=task, trigger_types=types, context=context, depth=event.depth)


def fire(*, task: Task, trigger_types: list[str], context: dict[str, Any], depth: int) -> list[Run]:
    """Start a run of every active workflow whose trigger is one of `trigger_types` and whose
    filters match the task."""
    flow = task.flow
    workflows = list(
        Workflow.objects.filter(
            Q(flow__isnull=True) | Q(flow=flow),
            organization_id=flow.organization_id,
            trigger_module=flow.module,
            trigger_type__in=trigger_types,
            is_active=True,
        ).prefetch_related("actions")
    )
    if not workflows:
        return []
    from tasks.services import task_to_json

    values = {**task_to_json(task=task), **context.get("new", {})}
    old_values = {**values, **context.get("old", {})}
    field_types = field_types_of(flow)
    runs = []
    with transaction.atomic():
        for workflow in workflows:
            if not evaluate(
                workflow.trigger_filters,
                values=values,
                field_types=field_types,
                old_values=old_values,
                changed=context.get("changed"),
            ):
                continue
            run_context = {**context, "event": {**context.get("event", {}), "type": workflow.trigger_type}}
            if depth >= max_depth():
                runs.append(_record_stopped_chain(workflow=workflow, task=task, context=run_context, depth=depth))
                continue
            runs.append(
                run_create(
                    kind=Run.Kind.WORKFLOW,
                    flow=flow,
                    task=task,
                    name=workflow.name,
                    program=program_for(workflow),
                    version=workflow.version,
                    workflow=workflow,
                    context=run_context,
                    depth=depth,
                )
            )
    return runs


def _record_stopped_chain(*, workflow: Workflow, task: Task, context: dict, depth: int) -> Run:
    from django.utils import timezone

    logger.warning("workflow %s not started for task %s: chain depth %s", workflow.pk, task.pk, depth)
    now = timezone.now()
    return Run.objects.create(
        kind=Run.Kind.WORKFLOW,
        flow=task.flow,
        task=task,
        task_ref=task.pk,
        name=workflow.name,
        program=[],
        version=workflow.version,
        workflow=workflow,
        context=context,
        depth=depth,
        status=Run.Status.FAIL,
        errors=[
            f"Not started: this change was made {depth} workflow runs deep, the limit is {max_depth()} "
            "(a workflow loop is likely)."
        ],
        finished_at=now,
    )
