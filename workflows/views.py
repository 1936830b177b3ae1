"""Workflow pages: the list per organization, the editor, run history. Thin: they read through the
selectors and write through the same services as the Workflows API. Outsiders get 404; members see
everything read-only and get 403 for any POST; admins edit.

The editor keeps the workflow being edited in the form (see workflows.forms). Its buttons post the
whole form back with an ``op`` ("add_condition:triggerFilters", "up:actions[1]", ...): htmx gets the
one fragment that changed, a browser without JavaScript the whole page."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from actions.engine import run_retry
from actions.models import Run
from actions.program import step_at_path
from actions.steps.base import step_summary
from flows.models import Flow
from flows.selectors import organization_get, organization_is_admin
from flowsite.api import Forbidden, ServiceError
from flowsite.bounds import id_or_none
from workflows import forms, selectors, services
from workflows.serializers import workflow_json, workflow_run_json
from workflows.triggers import TRIGGERS

PAGE = "workflows/editor.html"
RUNS_PER_PAGE = 20
RUN_STATUSES = [s.value for s in Run.Status]


def _organization(request, org: str):
    organization = organization_get(user=request.user, slug=org)
    return organization, organization_is_admin(user=request.user, organization=organization)


def _workflow(request, organization, workflow_id):
    workflow = selectors.workflow_get(user=request.user, workflow_id=workflow_id)
    if workflow.organization_id != organization.pk:
        raise Http404
    return workflow


def _require_admin(is_admin: bool) -> None:
    if not is_admin:
        raise PermissionDenied("Only organization admins can change workflows.")


# --- the list -------------------------------------------------------------------------------------


def _row_context(organization, workflow, is_admin: bool) -> dict:
    return {"organization": organization, "workflow": workflow, "is_admin": is_admin}


@login_required
@require_GET
def workflow_list(request, org):
    organization, is_admin = _organization(request, org)
    last_run = selectors.workflow_last_runs(user=request.user).filter(workflow=OuterRef("pk"))
    workflows = selectors.workflow_list(user=request.user, organization=organization.parameterized_name).annotate(
        last_run_status=Subquery(last_run.values("status")[:1]),
        last_run_id=Subquery(last_run.values("id")[:1]),
    )
    return render(
        request,
        "workflows/list.html",
        {"organization": organization, "workflows": workflows, "is_admin": is_admin},
    )


@login_required
@require_POST
def workflow_toggle(request, org, workflow_id):
    organization, is_admin = _organization(request, org)
    workflow = _workflow(request, organization, workflow_id)
    _require_admin(is_admin)
    value = request.POST.get("isActive")
    data = {"isActive": value == "true"} if value in ("true", "false") else None
    try:
        services.workflow_toggle(user=request.user, workflow=workflow, data=data)
    except Forbidden as exc:
        raise PermissionDenied(exc.message)
    if not request.htmx:
        return redirect("workflow_list", org=organization.parameterized_name)
    last = selectors.workflow_last_runs(user=request.user).filter(workflow=workflow)
    last = last.values("id", "status").first() or {}
    workflow.last_run_status, workflow.last_run_id = last.get("status"), last.get("id")
    return render(request, "workflows/list.html#row", _row_context(organization, workflow, is_admin))


# --- the editor -----------------------------------------------------------------------------------


def _render_editor(
    request, organization, workflow, is_admin, state, *, errors=None, parts=(), status=200, op="", trials=None
):
    view = forms.EditorView(organization=organization, state=state, errors=errors, op=op, trials=trials)
    context = {
        "organization": organization,
        "workflow": workflow,
        "is_admin": is_admin,
        "readonly": not is_admin,
        "editor_url": (
            reverse("workflow_edit", args=[organization.parameterized_name, workflow.pk])
            if workflow
            else reverse("workflow_new", args=[organization.parameterized_name])
        ),
        **view.context(),
    }
    if workflow is not None and not parts:
        # Failures show where the workflow is edited, not only in the owner's notifications.
        failed = selectors.workflow_runs(user=request.user, workflow=workflow, status=Run.Status.FAIL)
        context["last_failure"] = failed.first()
        context["failure_count"] = failed.count() if context["last_failure"] else 0
    if not parts:
        return render(request, PAGE, context, status=status)
    # The first part replaces the element htmx targeted; the others swap themselves in by id.
    html = render_to_string(f"{PAGE}#{parts[0]}", context, request=request)
    for part in parts[1:]:
        html += render_to_string(f"{PAGE}#{part}", {**context, "oob": True}, request=request)
    return HttpResponse(html, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def workflow_editor(request, org, workflow_id=None):
    organization, is_admin = _organization(request, org)
    workflow = _workflow(request, organization, workflow_id) if workflow_id else None
    if request.method == "GET":
        if workflow is not None:
            state = forms.state_from_workflow(workflow_json(workflow))
        else:
            module = request.GET.get("module")
            state = forms.blank_state(module if module in TRIGGERS else "leads")
        return _render_editor(request, organization, workflow, is_admin, state)

    _require_admin(is_admin)
    state = forms.state_from_post(request.POST)
    op = request.POST.get("op", "")
    if op.startswith("try:"):
        trials = {op.partition(":")[2]: _try_action(request, organization, workflow, state, op.partition(":")[2])}
        parts = ("actions",) if request.htmx else ()
        return _render_editor(request, organization, workflow, is_admin, state, parts=parts, trials=trials)
    if op:
        part = forms.apply_op(state, op, request.POST)
        if not request.htmx:
            return _render_editor(request, organization, workflow, is_admin, state, op=op)
        parts = ("trigger", "conditions", "actions") if part == "trigger" else (part,)
        return _render_editor(request, organization, workflow, is_admin, state, parts=parts, op=op)

    payload, errors = forms.payload_from_state(state)
    if workflow is None:
        payload["organization"] = organization.parameterized_name
    try:
        if errors:
            # What the form could not read (bad JSON) is not all: the service's checks run too, saving
            # nothing, so every error is shown after one submit.
            services.workflow_validate(user=request.user, data=payload, workflow=workflow)
        elif workflow is None:
            saved = services.workflow_create(user=request.user, data=payload)
        else:
            saved = services.workflow_update(user=request.user, workflow=workflow, data=payload)
    except ServiceError as exc:
        found = exc.errors if isinstance(exc.errors, dict) else {"": list(exc.errors)}
        errors = {**found, **errors}
    except Forbidden as exc:
        raise PermissionDenied(exc.message)
    if errors:
        return _render_editor(request, organization, workflow, is_admin, state, errors=errors, status=422)
    messages.success(request, f"Saved {saved.name} (version {saved.version}).")
    return redirect("workflow_edit", org=organization.parameterized_name, workflow_id=saved.pk)


def _try_action(request, organization, workflow, state: dict, path: str) -> dict:
    """ "Send test request" for the action at `path`, as the form holds it now (not yet saved)."""
    stored = {str(a.pk): a.config for a in workflow.actions.all()} if workflow is not None else {}
    action_type, config, old, errors = forms.action_to_try(state, path, stored)
    if errors:
        return {"error": "; ".join(f"{forms.where(k)}: {m}" for k, ms in errors.items() for m in ms)}
    flow_id = id_or_none(state["flowId"])
    flow = Flow.objects.filter(organization=organization, pk=flow_id).first() if flow_id is not None else None
    try:
        outcome = services.workflow_action_try(
            user=request.user,
            organization=organization,
            module=state["triggerModule"],
            flow=flow,
            workflow=workflow,
            name=state["name"] or "Test",
            event=state["triggerType"],
            action_type=action_type,
            config=config,
            old=old,
        )
    except Forbidden as exc:
        raise PermissionDenied(exc.message)
    return {
        **outcome,
        "request_json": _pretty(outcome["request"]),
        "response_headers": (outcome["response"] or {}).get("headers", {}),
    }


@login_required
@require_http_methods(["GET", "POST"])
def workflow_delete(request, org, workflow_id):
    organization, is_admin = _organization(request, org)
    workflow = _workflow(request, organization, workflow_id)
    if request.method == "POST":
        _require_admin(is_admin)
        try:
            services.workflow_delete(user=request.user, workflow=workflow)
        except Forbidden as exc:
            raise PermissionDenied(exc.message)
        messages.success(request, f"Deleted {workflow.name}.")
        return redirect("workflow_list", org=organization.parameterized_name)
    context = {"organization": organization, "workflow": workflow, "is_admin": is_admin}
    return render(request, "workflows/delete.html", context)


# --- run history ----------------------------------------------------------------------------------


@login_required
@require_GET
def workflow_runs(request, org, workflow_id):
    organization, is_admin = _organization(request, org)
    workflow = _workflow(request, organization, workflow_id)
    status = request.GET.get("status") or ""
    if status not in RUN_STATUSES:
        status = ""
    runs = selectors.workflow_runs(user=request.user, workflow=workflow, status=status or None).select_related(
        "flow", "task"
    )
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "organization": organization,
        "workflow": workflow,
        "is_admin": is_admin,
        "page": page,
        "status": status,
        "filter_query": f"status={status}" if status else "",
        "statuses": RUN_STATUSES,
    }
    if request.htmx and request.htmx.target == "runs":
        return render(request, "workflows/runs.html#table", context)
    return render(request, "workflows/runs.html", context)


def _run(request, organization, run_id) -> Run:
    run = selectors.run_get_for_user(user=request.user, run_id=run_id)
    if run.flow.organization_id != organization.pk:
        raise Http404
    return run


def _pretty(value) -> str:
    if value in (None, "", {}, []):
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


@login_required
@require_GET
def workflow_run(request, org, run_id):
    organization, is_admin = _organization(request, org)
    run = _run(request, organization, run_id)
    data = workflow_run_json(run, steps=True)
    steps = [
        {
            **step,
            # What the step was set to do, in the step type's own words.
            "summary": step_summary(step["type"], (step_at_path(run.program, step["path"]) or {}).get("config") or {}),
            "outcome_json": _pretty(step["outcome"]),
            "request_json": _pretty(step["request"]),
            "response_json": _pretty(step["response"]),
            # Datetimes, not the API's ISO text, so the page can say "2 minutes ago".
            "started_at": step_run.started_at,
            "finished_at": step_run.finished_at,
        }
        for step, step_run in zip(data["steps"], run.step_runs.all(), strict=True)
    ]
    context = {
        "organization": organization,
        "is_admin": is_admin,
        "run": run,
        "data": data,
        "steps": steps,
        "can_retry": is_admin and run.retryable,
    }
    return render(request, "workflows/run.html", context)


@login_required
@require_POST
def workflow_run_retry(request, org, run_id):
    organization, is_admin = _organization(request, org)
    run = _run(request, organization, run_id)
    _require_admin(is_admin)
    try:
        run_retry(run=run, actor=request.user)
        messages.success(request, "The run will continue from the failed step.")
    except ServiceError as exc:
        messages.error(request, " ".join(m for ms in exc.errors.values() for m in ms))
    return redirect("workflow_run", org=organization.parameterized_name, run_id=run.pk)
