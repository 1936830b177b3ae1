from collections.abc import Iterable

from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404

from actions.models import Action, Run, Step, StepRun
from flows.models import Flow, User
from flows.selectors import flow_readable_ids
from flowsite.bounds import id_or_none


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
