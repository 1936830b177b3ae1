"""Workflow work in the background: dispatching task events (the doorbell's job and the sweep for
events nobody rang for) and the overdue triggers. The worker's sweeper runs the sweeps (registered
in WorkflowsConfig.ready())."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from flows.models import Field, Flow
from flowsite.names import normalize_name
from tasks.models import Task, TaskEvent, TaskLink
from workflows.dispatch import events_dispatch, fire
from workflows.models import OverdueMark, Workflow

DUE_NAMES = {"duedate", "due", "deadline", "dueon", "dueat"}
# The sweeper thread has runs to ring too: it dispatches for this long, then rings a job to go on.
SWEEP_DISPATCH_SECONDS = 1.0


def events_dispatch_job() -> None:
    """The doorbell a task write rings after commit: dispatch pending task events, and relay the
    runs a few of them start in the same job rather than after another queue hop."""
    events_dispatch(execute_runs=True)


def events_sweep(*, now: datetime.datetime | None = None) -> int:
    """Dispatch task events left undispatched past the grace period: their doorbell was lost (the
    web process died between its commit and ringing, or the broker was down). Returns how many."""
    now = now or timezone.now()
    grace = datetime.timedelta(seconds=float(getattr(settings, "EVENT_DISPATCH_GRACE_SECONDS", 2)))
    if not TaskEvent.objects.filter(dispatched_at__isnull=True, created_at__lte=now - grace).exists():
        return 0  # the usual case: one indexed read
    return events_dispatch(budget_seconds=SWEEP_DISPATCH_SECONDS)


def due_field(flow) -> Field | None:
    for field in flow.fields.filter(type__in=["date", "datetime"]):
        if normalize_name(field.name) in DUE_NAMES:
            return field
    return None


def _is_past(value: str, now: datetime.datetime) -> bool:
    try:
        if len(value) == 10:
            return datetime.date.fromisoformat(value) < now.date()
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment < now
    except ValueError:
        return False


def overdue_sweep(*, now: datetime.datetime | None = None) -> int:
    """Fire task_overdue (and project_task_overdue on the task's project) once per due date for
    open tasks whose due-date field has passed. Only flows that some active workflow listens to
    are scanned."""
    now = now or timezone.now()
    listening = Workflow.objects.filter(is_active=True, trigger_type__in=["task_overdue", "project_task_overdue"])
    org_ids = set(listening.values_list("organization_id", flat=True))
    if not org_ids:
        return 0
    fired = 0
    for flow in Flow.objects.filter(organization_id__in=org_ids, module="tasks", disabled=False):
        field = due_field(flow)
        if field is None:
            continue
        key = str(field.pk)
        # Every open task of the flow is read once a minute; fine for thousands, revisit (a JSON
        # index on the due field) for flows with hundreds of thousands.
        for task in Task.objects.filter(flow=flow, stage__end_stage=False).select_related("flow").iterator():
            due = (task.data or {}).get(key)
            if not isinstance(due, str) or not _is_past(due, now):
                continue
            try:
                with transaction.atomic():
                    OverdueMark.objects.create(task=task, due=due)
            except IntegrityError:
                continue  # already fired for this due date
            context = {"event": {"kind": "overdue", "due": due, "field": field.name}, "old": {}, "changed": []}
            fire(task=task, trigger_types=["task_overdue"], context=context, depth=0)
            fired += 1
            projects = Task.objects.filter(
                links_out__to_task=task, links_out__relation=TaskLink.Relation.PROJECT_TASK, flow__module="projects"
            ).select_related("flow")
            for project in projects:
                project_context = {**context, "event": {**context["event"], "task": task.pk}}
                fire(task=project, trigger_types=["project_task_overdue"], context=project_context, depth=0)
    return fired
