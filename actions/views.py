"""Performing actions in the browser: a button per available action, then live progress; and the
run history of a flow and of a task, down to each step's request and answer."""

import json

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from actions import selectors, services
from actions.models import Action, Run
from flows.selectors import flow_member_get
from flowsite.api import Forbidden
from tasks.selectors import task_get


def _board_url(flow) -> str:
    return reverse("flow_board", args=[flow.organization.parameterized_name, flow.parameterized_name])


@login_required
@require_POST
def action_perform(request, org, flow, task_id, action_id):
    found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
    task = task_get(flow=found, task_id=task_id)
    action = selectors.action_get(flow=found, action_id=action_id)
    try:
        run = services.action_perform(action=action, task=task, actor=request.user)
    except (services.ActionUnavailable, Forbidden) as exc:
        errors = exc.errors if isinstance(exc, services.ActionUnavailable) else [exc.message]
        context = {"flow": found, "run": None, "action": action, "errors": errors, "task_id": task.pk}
        response = render(request, "actions/run_status.html#status", context)
        if not request.htmx:
            response.status_code = 422
        return response
    status_url = reverse("run_status", args=[org, flow, run.pk])
    if not request.htmx:
        return redirect(status_url)
    return render(request, "actions/run_status.html#status", {"flow": found, "run": run, "action": action})


@login_required
@require_GET
def run_status(request, org, flow, run_id):
    """The run's progress; while it is pending, the fragment polls itself. When it ends, the
    task page is told to refresh the task (or the browser goes back to the board)."""
    found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
    run = selectors.run_get(flow=found, run_id=run_id)
    context = {"flow": found, "run": run, "action": run.action}
    if not request.htmx:
        steps = [
            {"record": sr, "request_json": _pretty(sr.request), "response_json": _pretty(sr.response)}
            for sr in run.step_runs.all()
        ]
        return render(request, "actions/run_status.html", {**context, "steps": steps})
    response = render(request, "actions/run_status.html#status", context)
    if run.status == Run.Status.SUCCESS and run.action and run.action.navigate == Action.Navigate.BOARD:
        return HttpResponseClientRedirect(_board_url(found))
    if run.is_finished:
        trigger_client_event(response, "task-updated", {"task": run.task_ref, "status": run.status})
    return response


def buttons_context(*, flow, task) -> dict:
    """For the board card and the task page: the actions available to the task now."""
    return {"flow": flow, "task": task, "actions": selectors.actions_available(flow=flow, task=task)}


def _pretty(value) -> str:
    if value in (None, "", {}, []):
        return ""
    if isinstance(value, dict) and isinstance(value.get("body"), str):
        # A JSON body reads better as JSON than as one escaped string (an excerpt cut short stays text).
        try:
            value = {**value, "body": json.loads(value["body"])}
        except ValueError:
            pass
    return json.dumps(value, indent=2, ensure_ascii=False)


# --- run history ----------------------------------------------------------------------------------

RUNS_PER_PAGE = 20
RECENT_RUNS = 5
RUN_STATUSES = [s.value for s in Run.Status]


@login_required
@require_GET
def flow_runs(request, org, flow):
    found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
    return _runs_page(request, found, task=None)


@login_required
@require_GET
def task_runs(request, org, flow, task_id):
    """The task's action runs; `?recent=1` from htmx is the short list the task page's history shows."""
    found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
    task = task_get(flow=found, task_id=task_id)
    return _runs_page(request, found, task=task)


def _runs_page(request, flow, *, task):
    status = request.GET.get("status") or ""
    if status not in RUN_STATUSES:
        status = ""
    actions = list(selectors.action_list(flow=flow))
    action_id = request.GET.get("action") or ""
    if action_id not in {str(a.pk) for a in actions}:
        action_id = ""
    runs = selectors.run_list(
        user=request.user,
        flow=flow,
        task_ref=task.pk if task else None,
        action_id=int(action_id) if action_id else None,
        statuses=[status] if status else None,
    )
    context = {
        "flow": flow,
        "task": task,
        "status": status,
        "statuses": RUN_STATUSES,
        "actions": actions,
        "action_id": action_id,
    }
    if task is not None and request.htmx and request.GET.get("recent"):
        return render(request, "actions/runs.html#recent", {**context, "runs": runs[:RECENT_RUNS]})
    context["page"] = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    context["filter_query"] = "&".join(f"{k}={v}" for k, v in (("status", status), ("action", action_id)) if v)
    if request.htmx and request.htmx.target == "runs":
        return render(request, "actions/runs.html#table", context)
    return render(request, "actions/runs.html", context)
