"""Performing actions in the browser: a button per available action, then live progress."""

from django.contrib.auth.decorators import login_required
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
        return render(request, "actions/run_status.html", context)
    response = render(request, "actions/run_status.html#status", context)
    if run.status == Run.Status.SUCCESS and run.action and run.action.navigate == Action.Navigate.BOARD:
        return HttpResponseClientRedirect(_board_url(found))
    if run.is_finished:
        trigger_client_event(response, "task-updated", {"task": run.task_ref, "status": run.status})
    return response


def buttons_context(*, flow, task) -> dict:
    """For the board card and the task page: the actions available to the task now."""
    return {"flow": flow, "task": task, "actions": selectors.actions_available(flow=flow, task=task)}
