from django.db.models import Prefetch, QuerySet
from django.http import Http404

from actions.models import Action, Run, Step, StepRun
from flows.models import Flow
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
        .select_related("performed_by", "action")
        .prefetch_related(Prefetch("step_runs", queryset=StepRun.objects.order_by("id")))
        .first()
    )
    if run is None:
        raise Http404
    return run
