"""Workflow work in the background: dispatching task events (a dispatcher thread in every worker
process, and the sweep for events it left) and the overdue triggers. The worker's sweeper runs the
sweeps (registered in WorkflowsConfig.ready())."""

from __future__ import annotations

import datetime
import logging
import threading

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from flows.models import Field, Flow
from flowsite import doorbell
from flowsite.names import normalize_name
from tasks.models import Task, TaskEvent, TaskLink
from workflows.dispatch import OUTBOX_TOPIC, dispatch_wake, events_dispatch, events_pending, fire
from workflows.models import OverdueMark, Workflow

DUE_NAMES = {"duedate", "due", "deadline", "dueon", "dueat"}
# The sweeper thread has runs to ring too: it dispatches for this long, then rings a job to go on.
SWEEP_DISPATCH_SECONDS = 1.0


logger = logging.getLogger(__name__)

_dispatcher_started = threading.Event()


def start_dispatcher(**kwargs) -> None:
    """Started in every django-q2 worker process as it spawns (the `post_spawn` signal, as the
    sweeper): a daemon thread that dispatches task events as soon as they are committed, and one
    that wakes it when a write anywhere rings the outbox's doorbell (flowsite.doorbell). Not a
    queued job: a job would wait in the queue behind the drains of runs it started (up to
    actions.engine.DRAIN_SECONDS each), and a job per write made the queue twice as long."""
    if _dispatcher_started.is_set():
        return
    _dispatcher_started.set()
    stop = threading.Event()
    threading.Thread(target=dispatch_loop, args=(stop,), name="flowsite-dispatcher", daemon=True).start()
    threading.Thread(target=doorbell_loop, args=(stop,), name="flowsite-outbox-doorbell", daemon=True).start()


def doorbell_loop(stop: threading.Event) -> None:
    """Wake this process's dispatcher whenever a write rings the outbox's doorbell."""
    bell = doorbell.listener(OUTBOX_TOPIC)
    try:
        while not stop.is_set():
            if bell.wait(1.0):
                dispatch_wake.set()
    finally:
        bell.close()


def dispatch_loop(stop: threading.Event) -> None:
    """The dispatcher thread: dispatch whatever the outbox holds; then wait for a doorbell, or look
    again after EVENT_DISPATCH_POLL_SECONDS if none rings (a lost ring costs that much latency)."""
    rung = False
    while not stop.is_set():
        try:
            # Rung: there are events (or were, if another dispatcher took them), so no read to ask
            # first: it was a round trip before every dispatch. A look on the dispatcher's own
            # schedule mostly finds none, and asks with one read of the outbox's index.
            if rung or events_pending():
                events_dispatch()
        except Exception:  # the database may be down for a while; keep trying
            logger.warning("dispatching task events failed; retrying", exc_info=True)
            connection.close()
            dispatch_wake.wait(1.0)
        rung = dispatch_wake.wait(float(getattr(settings, "EVENT_DISPATCH_POLL_SECONDS", 1.0)))
        dispatch_wake.clear()


def events_sweep(*, now: datetime.datetime | None = None) -> int:
    """Dispatch task events left undispatched past the grace period (no worker's dispatcher thread
    took them: a backstop). Returns how many."""
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
