"""Performing actions in the browser: a button per available action, then live progress; and the
run history of a flow and of a task, down to each step's request and answer."""

import json

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from actions import selectors, services
from actions.models import Action, Run
from flows.selectors import flow_member_get
from flowsite.api import Forbidden
from tasks.selectors import notification_unread_count, task_get
from tasks.services import notifications_mark_read


def _board_url(flow) -> str:
    return reverse("flow_board", args=[flow.organization.parameterized_name, flow.parameterized_name])


def _status_context(flow, run: Run | None, **extra) -> dict:
    context = {"flow": flow, "run": run, **extra}
    if run is not None and not run.is_finished:
        context["progress"] = selectors.run_progress(run=run)
    elif run is not None and run.status == Run.Status.FAIL:
        context["failure"] = selectors.run_failure_text(run=run)
    return context


def _status_answer(request, flow, context: dict, task) -> HttpResponse:
    """The run's status, plus out of band what else it changed: the task's buttons (disabled while a
    run is in flight, those of its new stage once it ends) and, after a failure, the unread count."""
    html = render_to_string("actions/run_status.html#status", context, request=request)
    if task is not None:
        html += render_to_string(
            "actions/_buttons.html#row", {**buttons_context(flow=flow, task=task), "oob": True}, request=request
        )
    run = context.get("run")
    if run is not None and run.status == Run.Status.FAIL:
        html += render_to_string(
            "tasks/_notifications_badge.html",
            {"notifications_unread": notification_unread_count(user=request.user), "oob": True},
            request=request,
        )
    return HttpResponse(html)


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
        if not request.htmx:
            return render(request, "actions/run_status.html#status", context, status=422)
        return _status_answer(request, found, context, task)
    status_url = reverse("run_status", args=[org, flow, run.pk])
    if not request.htmx:
        return redirect(status_url)
    return _status_answer(request, found, _status_context(found, run, action=action), task)


@login_required
@require_GET
def run_status(request, org, flow, run_id):
    """The run's progress; while it is pending, the fragment polls itself. When it ends, the
    task page is told to refresh the task (or the browser goes back to the board)."""
    found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
    run = selectors.run_get(flow=found, run_id=run_id)
    context = _status_context(found, run, action=run.action)
    if not request.htmx:
        steps = [
            {"record": sr, "request_json": _pretty(sr.request), "response_json": _pretty(sr.response)}
            for sr in run.step_runs.all()
        ]
        return render(request, "actions/run_status.html", {**context, "steps": steps, "standalone": True})
    if run.status == Run.Status.SUCCESS and run.action and run.action.navigate == Action.Navigate.BOARD:
        return HttpResponseClientRedirect(_board_url(found))
    response = _status_answer(request, found, context, run.task)
    if run.is_finished:
        trigger_client_event(response, "task-updated", {"task": run.task_ref, "status": run.status})
    elif context["progress"]["ended"] > _int(request.GET.get("seen")):
        # A step ended since the last poll and may have changed the task (moved it, say): the page
        # shows that now rather than only when the whole run ends.
        trigger_client_event(response, "task-updated", {"task": run.task_ref, "status": run.status})
    return response


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@login_required
@require_POST
def run_dismiss(request, org, flow, run_id):
    """The person has seen a failed run's alert: it goes, and so do their notifications about it."""
    found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
    run = selectors.run_get(flow=found, run_id=run_id)
    notifications_mark_read(user=request.user, task_id=run.task_ref, kind=selectors.FAILED_NOTIFICATION)
    if not request.htmx:
        return redirect(reverse("run_status", args=[org, flow, run.pk]))
    badge = {"notifications_unread": notification_unread_count(user=request.user), "oob": True}
    return HttpResponse(render_to_string("tasks/_notifications_badge.html", badge, request=request))


def buttons_context(*, flow, task, user=None) -> dict:
    """For the board card and the task page: the actions available to the task now, the task's
    action run in flight (its buttons wait for it) and the person's failed run not yet dismissed."""
    busy = selectors.run_in_flight(task=task)
    failed = None
    if busy is None and user is not None:
        failed = selectors.runs_failed_unseen(user=user, flow=flow, task_ids=[task.pk]).get(task.pk)
    return {
        "flow": flow,
        "task": task,
        "actions": selectors.actions_available(flow=flow, task=task),
        "busy": busy,
        "busy_progress": selectors.run_progress(run=busy) if busy else None,
        "failed": failed,
    }


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
