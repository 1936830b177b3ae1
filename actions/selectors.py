from collections.abc import Iterable

from django.db.models import Count, Max, Prefetch, QuerySet
from django.http import Http404

from actions.models import Action, Run, Step, StepRun
from actions.program import step_number
from actions.steps.base import StepConfigError, get_step_type, step_label
from flows.models import Flow, User
from flows.selectors import flow_readable_ids
from flowsite.bounds import id_or_none
from tasks.models import Notification


def action_list(*, flow: Flow) -> QuerySet[Action]:
    return flow.actions.prefetch_related("from_stages", Prefetch("steps", queryset=Step.objects.order_by("position")))


def action_get(*, flow: Flow, action_id) -> Action:
    action_id = id_or_none(action_id)
    if action_id is None:
        raise Http404
    action = action_list(flow=flow).filter(pk=action_id).first()
    if action is None:
        raise Http404
    return action


def actions_available(*, flow: Flow, task) -> list[Action]:
    return [
        a
        for a in action_list(flow=flow)
        if not a.from_stages.all() or task.stage_id in {s.pk for s in a.from_stages.all()}
    ]


def run_get(*, flow: Flow, run_id) -> Run:
    run_id = id_or_none(run_id)
    if run_id is None:
        raise Http404
    run = (
        Run.objects.filter(flow=flow, pk=run_id)
        .select_related("performed_by", "action", "task")
        .prefetch_related(Prefetch("step_runs", queryset=StepRun.objects.order_by("id")))
        .first()
    )
    if run is None:
        raise Http404
    return run


def run_list(
    *,
    user: User,
    flow: Flow,
    task_ref: int | None = None,
    action_id: int | None = None,
    statuses: Iterable[str] | None = None,
) -> QuerySet[Run]:
    """The flow's action runs, newest first: the run history of a flow, or of one task (`task_ref`,
    which outlives the task). Runs hold the task's data in their step records, so they are read
    through the one rule for task data (flow_readable_ids), whoever found `flow`."""
    qs = Run.objects.filter(kind=Run.Kind.ACTION, flow=flow, flow_id__in=flow_readable_ids(user=user))
    if task_ref is not None:
        qs = qs.filter(task_ref=task_ref)
    if action_id is not None:
        qs = qs.filter(action_id=action_id)
    if statuses:
        qs = qs.filter(status__in=list(statuses))
    return qs.select_related("performed_by", "action", "task").annotate(steps_run=Count("step_runs")).order_by("-id")


FAILED_NOTIFICATION = "action_failed"  # what the engine leaves the person when their action fails
UNFINISHED = (Run.Status.PENDING, Run.Status.RUNNING, Run.Status.WAITING)
ENDED_STEP = (StepRun.Status.SUCCESS, StepRun.Status.FAIL, StepRun.Status.SKIPPED)


def run_in_flight(*, task) -> Run | None:
    """The task's action run that has not ended (a task's runs take turns, so the oldest)."""
    return (
        Run.objects.filter(task_ref=task.pk, kind=Run.Kind.ACTION, status__in=UNFINISHED)
        .select_related("action")
        .order_by("id")
        .first()
    )


def run_progress(*, run: Run) -> dict:
    """Which step a pending run is at: the steps that ended, and the one after them."""
    step_runs = list(run.step_runs.all())
    ended = sum(1 for s in step_runs if s.status in ENDED_STEP)
    current = next((s for s in step_runs if s.status not in ENDED_STEP), None)
    return {
        "ended": ended,
        "total": len(run.program),
        "step": ended + 1 if ended < len(run.program) else ended,
        "label": step_label(current.type) if current else "",
    }


def _step_effect(step_run: StepRun) -> str:
    """What a step that succeeded did to the task, in a few words (its type says)."""
    try:
        return get_step_type(step_run.type).effect(step_run.output or {})
    except StepConfigError:  # a type no longer registered
        return f"{step_run.type} done"


def run_failure_text(*, run: Run) -> str:
    """A failed run in one line, with what its earlier steps already did: an action aborts on the
    failing step and keeps the earlier steps' effects (seed: "abort the action on the current
    step"), so the person must know which effects stayed."""
    parts = []
    for step_run in sorted(run.step_runs.all(), key=lambda s: s.pk):
        if step_run.status == StepRun.Status.SUCCESS:
            parts.append(_step_effect(step_run))
        elif step_run.status == StepRun.Status.FAIL:
            parts.append(f"step {step_number(step_run.path)}, {step_label(step_run.type)}, failed: {step_run.error}")
    if not any(s.status == StepRun.Status.FAIL for s in run.step_runs.all()):
        parts.extend(str(e) for e in run.errors)
    return "; ".join(parts)


def runs_failed_unseen(*, user, flow: Flow, task_ids: list[int] | None = None) -> dict[int, Run]:
    """Per task of the flow (or of `task_ids`), the person's latest failed action run while its
    failure notification is unread: the alert stays on the card and the task page until they
    dismiss it (or read it in their notifications). Each run carries `failure_text`."""
    notifications = Notification.objects.filter(
        user=user, flow=flow, kind=FAILED_NOTIFICATION, read_at__isnull=True, task__isnull=False
    )
    if task_ids is not None:
        notifications = notifications.filter(task_id__in=task_ids)
    unread = set(notifications.values_list("task_id", flat=True))
    if not unread:
        return {}
    latest = (
        Run.objects.filter(
            kind=Run.Kind.ACTION,
            status=Run.Status.FAIL,
            flow=flow,
            flow_id__in=flow_readable_ids(user=user),  # the one rule for task data, as run_list
            performed_by=user,
            task_ref__in=unread,
        )
        .values("task_ref")
        .annotate(last=Max("id"))
        .values_list("last", flat=True)
    )
    runs = (
        Run.objects.filter(pk__in=list(latest))
        .select_related("action")
        .prefetch_related(Prefetch("step_runs", queryset=StepRun.objects.order_by("id")))
    )
    found = {}
    for run in runs:
        run.failure_text = run_failure_text(run=run)
        found[run.task_ref] = run
    return found
