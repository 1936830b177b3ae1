"""The Flow Builder pages. Thin: each view loads the flow (404 for people outside it, 403 for members
who may not design it), calls one function of actions.builder (or actions.versions) and answers
with the fragments that changed, as out-of-band swaps, when htmx asks; otherwise it redirects back
to the page, so the builder also works without JavaScript."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from actions import builder, design, step_forms, versions
from actions.steps.base import StepConfigError, config_validate, get_step_type
from flows.selectors import flow_member_get
from flowsite.api import Forbidden, ServiceError
from tasks.models import Task
from tasks.schema import field_list, stage_get, stage_list

PAGE = "actions/builder.html"


def builder_view(view):
    """Flow members only (404 otherwise), and only those who may edit the flow (403)."""

    @login_required
    @wraps(view)
    def wrapper(request, org, flow, **kwargs):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        try:
            builder.require_editor(flow=found, user=request.user)
            return view(request, found, **kwargs)
        except Forbidden as exc:
            context = {"flow": found, "message": exc.message}
            return render(request, "actions/builder_forbidden.html", context, status=403)

    return wrapper


def _url(name: str, flow, *args) -> str:
    return reverse(name, args=[flow.organization.parameterized_name, flow.parameterized_name, *args])


def _context(request, flow, draft, **extra) -> dict:
    data = draft.data
    stages = stage_list(flow=flow)
    selected = next((a for a in data["actions"] if a["key"] == data.get("selected")), None)
    changed = builder.changed_keys(data)
    errors = data.get("errors", {})
    counts = dict(Task.objects.filter(flow=flow).values_list("stage_id").annotate(n=Count("id")))
    steps = []
    if selected is not None:
        step_errors = errors.get(selected["key"], {}).get("steps", {})
        for step in selected["steps"]:
            steps.append(
                {
                    "key": step["key"],
                    "type": step["type"],
                    "label": builder.step_label(step["type"]),
                    "summary": builder.step_summary(step),
                    "errors": step_errors.get(step["key"], []),
                }
            )
    version = versions.flow_design_version(flow)
    return {
        "flow": flow,
        "org_slug": flow.organization.parameterized_name,
        "flow_slug": flow.parameterized_name,
        "stages": stages,
        "selected": selected,
        "selected_steps": steps,
        "action_errors": _action_errors(errors.get(selected["key"], {}).get("action", {})) if selected else [],
        "error_keys": set(errors),
        "changed": changed,
        "deleted": data.get("deleted", []),
        "dirty": builder.draft_is_dirty(data),
        "version": version,
        "stale": builder.draft_is_dirty(data) and data.get("version") != version,
        "layout": builder.canvas_layout(stages=stages, actions=data["actions"], task_counts=counts),
        "step_types": builder.action_step_types(),
        "navigate_choices": [("stay", "Stay on the task"), ("board", "Back to the board")],
        **extra,
    }


ACTION_LABELS = {
    "name": "Name",
    "color": "Colour",
    "from_stages": "Available from",
    "navigate": "After it is performed",
    "steps": "Steps",
    "non_field_errors": "",
    "body": "",
}


def _action_errors(errors: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(ACTION_LABELS.get(key, key), str(reason)) for key, reasons in errors.items() for reason in reasons]


def _oob(request, context: dict, *parts: str) -> HttpResponse:
    """The named fragments of the builder page, each swapped into its place by id."""
    context = {**context, "oob": True}
    html = "".join(render_to_string(f"{PAGE}#{part}", context, request=request) for part in parts)
    return HttpResponse(html)


def _back(flow, draft) -> HttpResponse:
    url = _url("flow_builder", flow)
    if draft.data.get("selected"):
        url += f"?action={draft.data['selected']}"
    return redirect(url)


def _answer(request, flow, draft, *parts: str, **extra) -> HttpResponse:
    if not request.htmx:
        flash = extra.get("flash")
        if flash:
            getattr(messages, flash["level"] if flash["level"] in ("success", "error") else "info")(
                request, flash["text"]
            )
        return _back(flow, draft)
    return _oob(request, _context(request, flow, draft, **extra), *parts)


# --- the page ----------------------------------------------------------------------------------


@require_GET
@builder_view
def flow_builder(request, flow):
    draft = builder.draft_get(flow=flow, user=request.user, refresh=True)
    key = request.GET.get("action")
    if key and any(a["key"] == key for a in draft.data["actions"]):
        builder.draft_select(draft, key)
    return render(request, PAGE, _context(request, flow, draft))


@require_GET
@builder_view
def builder_select(request, flow, key):
    draft = builder.draft_get(flow=flow, user=request.user)
    builder.draft_select(draft, key)
    return _answer(request, flow, draft, "sidebar", "canvas")


# --- actions -----------------------------------------------------------------------------------


def _stage_or_none(flow, raw):
    if raw in (None, ""):
        return None
    try:
        return stage_get(flow=flow, stage_id=raw)
    except Http404:
        return None


@require_POST
@builder_view
def builder_action_new(request, flow):
    from_stage = _stage_or_none(flow, request.POST.get("from_stage"))
    to_stage = _stage_or_none(flow, request.POST.get("to_stage"))
    with transaction.atomic():
        draft = builder.draft_lock(flow=flow, user=request.user)
        builder.draft_action_new(draft, flow=flow, from_stage=from_stage, to_stage=to_stage)
    return _answer(request, flow, draft, "sidebar", "canvas", "savebar")


@require_POST
@builder_view
def builder_action_update(request, flow, key):
    values = {k: request.POST[k] for k in ("name", "color", "navigate") if k in request.POST}
    if "from_stages_sent" in request.POST:
        values["from_stages"] = request.POST.getlist("from_stages")
    with transaction.atomic():
        draft = builder.draft_lock(flow=flow, user=request.user)
        builder.draft_action_update(draft, key, flow=flow, values=values)
    return _answer(request, flow, draft, "canvas", "savebar", "action_errors")


@require_POST
@builder_view
def builder_action_delete(request, flow, key):
    with transaction.atomic():
        draft = builder.draft_lock(flow=flow, user=request.user)
        builder.draft_action_delete(draft, key)
    return _answer(request, flow, draft, "sidebar", "canvas", "savebar")


# --- steps -------------------------------------------------------------------------------------


def _modal_context(flow, draft, key: str, step_key: str | None, type_name: str) -> dict:
    action = builder.draft_action(draft.data, key)
    step = builder.draft_step(action, step_key) if step_key else None
    try:
        step_type = get_step_type(type_name)
    except StepConfigError:
        raise Http404
    if "action" not in step_type.contexts:
        raise Http404
    if step is not None and step["type"] == step_type.type:
        state = step_forms.config_state(step_type.type, step_type.public_config(step["config"]))
    else:
        state = step_forms.default_state(step_type.type)
    options = step_forms.flow_options(flow=flow)
    modal = {
        "action": action,
        "step": step,
        "index": action["steps"].index(step) + 1 if step else len(action["steps"]) + 1,
        "type": step_type,
        # The type's one partial, its inputs named "config.<key>" (the workflow editor names them by
        # the action's path).
        "form": step_forms.form_view(step_type.type, state, prefix=step_forms.PREFIX, options=options),
    }
    if step_type.tryable:
        fields = field_list(flow=flow)
        modal["samples"] = [
            (t.pk, builder.task_label(t, fields)) for t in builder.sample_tasks(flow=flow, action=action)
        ]
    return {"modal": modal}


def _modal(request, flow, draft, key, step_key, type_name):
    extra = _modal_context(flow, draft, key, step_key, type_name)
    if not request.htmx:
        return render(request, PAGE, _context(request, flow, draft, **extra))
    return _oob(
        request,
        {"flow": flow, "org_slug": flow.organization.parameterized_name, "flow_slug": flow.parameterized_name, **extra},
        "modal",
    )


@require_GET
@builder_view
def builder_step_new(request, flow, key, type_name):
    draft = builder.draft_get(flow=flow, user=request.user)
    return _modal(request, flow, draft, key, None, type_name)


@require_GET
@builder_view
def builder_step_edit(request, flow, key, step_key):
    draft = builder.draft_get(flow=flow, user=request.user)
    step = builder.draft_step(builder.draft_action(draft.data, key), step_key)
    return _modal(request, flow, draft, key, step_key, step["type"])


def _parse_step(request, flow, draft, key):
    """The posted step form as a config (read by the code the workflow editor reads its forms with)."""
    step_key = request.POST.get("step_key") or None
    type_name = request.POST.get("type", "")
    action = builder.draft_action(draft.data, key)
    if step_key:
        builder.draft_step(action, step_key)
    try:
        step_type = get_step_type(type_name)
    except StepConfigError:
        raise Http404
    field_types = {f.name: f.type for f in field_list(flow=flow)}
    config = step_forms.read_step_form(step_type.type, request.POST, context={"field_types": field_types})
    return action, step_key, type_name, config


def _errors_answer(request, flow, exc: StepConfigError, status: int = 200) -> HttpResponse:
    # The input the error belongs to, by its name as posted (rows keep their posted index).
    input_name = step_forms.step_inputs(request.POST.get("type", ""), request.POST)(exc.field)
    errors = [{"label": builder.field_label(exc.field), "message": exc.message, "input": input_name}]
    context = {"flow": flow, "step_errors": errors, "oob": True}
    response = HttpResponse(render_to_string(f"{PAGE}#step_errors", context, request=request), status=status)
    return response


@require_POST
@builder_view
def builder_step_apply(request, flow, key):
    with transaction.atomic():
        draft = builder.draft_lock(flow=flow, user=request.user)
        try:
            action, step_key, type_name, config = _parse_step(request, flow, draft, key)
            builder.draft_step_apply(draft, key, flow=flow, step_key=step_key, type_name=type_name, config=config)
        except StepConfigError as exc:
            if not request.htmx:
                messages.error(request, f"{builder.field_label(exc.field)}: {exc.message}")
                return _back(flow, draft)
            return _errors_answer(request, flow, exc)
    if not request.htmx:
        return _back(flow, draft)
    # The emptied modal slot closes the dialog; the swap happens after the request settles, so the
    # form that sent it is still in the page while htmx handles the answer.
    return _oob(request, _context(request, flow, draft), "steps", "canvas", "savebar", "modal")


@require_POST
@builder_view
def builder_step_move(request, flow, key, step_key):
    with transaction.atomic():
        draft = builder.draft_lock(flow=flow, user=request.user)
        action = builder.draft_action(draft.data, key)
        index = [s["key"] for s in action["steps"]].index(builder.draft_step(action, step_key)["key"])
        direction = request.POST.get("direction")
        if direction in ("up", "down"):
            to = index - 1 if direction == "up" else index + 1
        else:
            try:
                to = int(request.POST.get("to", index))
            except ValueError:
                to = index
        builder.draft_step_move(draft, key, step_key, to=to)
    return _answer(request, flow, draft, "steps", "canvas", "savebar")


@require_POST
@builder_view
def builder_step_delete(request, flow, key, step_key):
    with transaction.atomic():
        draft = builder.draft_lock(flow=flow, user=request.user)
        builder.draft_step_delete(draft, key, step_key)
    return _answer(request, flow, draft, "steps", "canvas", "savebar")


@require_POST
@builder_view
def builder_test_request(request, flow, key):
    """Try the API Call in the modal (not yet applied) against a sample task."""
    draft = builder.draft_get(flow=flow, user=request.user)
    try:
        action, step_key, type_name, config = _parse_step(request, flow, draft, key)
        step_type = get_step_type(type_name)
        if not step_type.tryable:
            raise Http404
        old = None
        if step_key:
            step = builder.draft_step(action, step_key)
            old = step["config"] if step["type"] == step_type.type else None
        config = config_validate(step_type, config, flow=flow, old=old)
    except StepConfigError as exc:
        return _errors_answer(request, flow, exc)
    outcome = builder.send_test_request(
        flow=flow,
        actor=request.user,
        action=action,
        step_type=step_type,
        config=config,
        task_id=request.POST.get("sample_task") or None,
    )
    context = {"flow": flow, "outcome": outcome, "oob": True, "step_errors": []}
    html = render_to_string(f"{PAGE}#test_result", context, request=request)
    html += render_to_string(f"{PAGE}#step_errors", context, request=request)
    return HttpResponse(html)


# --- save --------------------------------------------------------------------------------------


@require_POST
@builder_view
def builder_save(request, flow):
    with transaction.atomic():
        draft = builder.draft_lock(flow=flow, user=request.user)
        result = builder.draft_save(draft, flow=flow, actor=request.user)
    if result.nothing:
        flash = {"level": "info", "text": "Nothing to save."}
    elif result.errors:
        noun = "action has" if result.errors == 1 else "actions have"
        flash = {"level": "error", "text": f"Not saved: {result.errors} {noun} errors, shown below. Nothing changed."}
    else:
        flash = {"level": "success", "text": f"Saved as version {result.version.number}."}
    return _answer(request, flow, draft, "sidebar", "canvas", "savebar", flash=flash)


@require_POST
@builder_view
def builder_discard(request, flow):
    with transaction.atomic():
        draft = builder.draft_lock(flow=flow, user=request.user)
        builder.draft_discard(draft, flow=flow)
    flash = {"level": "info", "text": "Unsaved changes discarded."}
    return _answer(request, flow, draft, "sidebar", "canvas", "savebar", flash=flash)


# --- stages (written straight through) ---------------------------------------------------------


def _stage_answer(request, flow, run) -> HttpResponse:
    flash = None
    try:
        with transaction.atomic():
            draft = builder.draft_lock(flow=flow, user=request.user)
            text = run(draft)
        flash = {"level": "success", "text": text}
    except ServiceError as exc:
        reasons = [str(r) for values in exc.errors.values() for r in values]
        flash = {"level": "error", "text": " ".join(reasons)}
        draft = builder.draft_get(flow=flow, user=request.user)
    if not request.htmx:
        return _answer(request, flow, draft, flash=flash)
    return _oob(request, _context(request, flow, draft, canvas_flash=flash), "sidebar", "canvas", "savebar")


@require_POST
@builder_view
def builder_stage_new(request, flow):
    def run(draft):
        stage = builder.stage_add(flow=flow, actor=request.user, name=request.POST.get("name", ""))
        return f'Stage "{stage.name}" added.'

    return _stage_answer(request, flow, run)


@require_POST
@builder_view
def builder_stage_update(request, flow, stage_id):
    stage = stage_get(flow=flow, stage_id=stage_id)

    def run(draft):
        renamed = builder.stage_rename(
            flow=flow, actor=request.user, draft=draft, stage=stage, name=request.POST.get("name", "")
        )
        return f'Stage renamed to "{renamed.name}".'

    return _stage_answer(request, flow, run)


@require_POST
@builder_view
def builder_stage_move(request, flow, stage_id):
    stage = stage_get(flow=flow, stage_id=stage_id)
    direction = "left" if request.POST.get("direction") == "left" else "right"

    def run(draft):
        builder.stage_move(flow=flow, actor=request.user, stage=stage, direction=direction)
        return f'Stage "{stage.name}" moved {direction}.'

    return _stage_answer(request, flow, run)


@require_POST
@builder_view
def builder_stage_delete(request, flow, stage_id):
    stage = stage_get(flow=flow, stage_id=stage_id)

    def run(draft):
        moved = builder.stage_remove(
            flow=flow, actor=request.user, draft=draft, stage=stage, move_to=request.POST.get("move_to")
        )
        extra = f" {moved} task{'s' if moved != 1 else ''} moved." if moved else ""
        return f'Stage "{stage.name}" deleted.{extra}'

    return _stage_answer(request, flow, run)


# --- versions ----------------------------------------------------------------------------------


@require_GET
@builder_view
def builder_versions(request, flow):
    items = list(versions.flow_version_list(flow=flow)[:100])
    previous = {}
    numbers = [v.number - 1 for v in items]
    for v in versions.flow_version_list(flow=flow).filter(number__in=numbers):
        previous[v.number] = v.snapshot
    rows = []
    current = versions.flow_design_version(flow)
    for v in items:
        rows.append(
            {
                "version": v,
                "changes": versions.snapshot_changes(previous.get(v.number - 1), v.snapshot),
                "actions": [
                    {
                        "name": a["name"],
                        "color": a.get("color"),
                        "from_stages": a.get("from_stages", []),
                        "steps": [
                            {
                                "label": builder.step_label(s["type"]),
                                "summary": builder.step_summary(s),
                            }
                            for s in a.get("steps", [])
                        ],
                    }
                    for a in v.snapshot.get("actions", [])
                ],
                "current": v.number == current,
            }
        )
    return render(request, "actions/builder_versions.html", {"flow": flow, "rows": rows, "current": current})


@require_POST
@builder_view
def builder_version_restore(request, flow, number):
    try:
        version = design.flow_version_restore(flow=flow, actor=request.user, number=number)
    except design.DesignError as exc:
        reasons = "; ".join(f"{key}: {', '.join(map(str, why))}" for key, why in exc.errors.items())
        messages.error(request, f"Version {number} cannot be restored: {reasons}")
    else:
        messages.success(request, f"Version {number} restored as version {version.number}.")
    return redirect(_url("builder_versions", flow))
