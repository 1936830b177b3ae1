"""The schema page: a flow's stages and fields, changed through the tasks.schema services.

Every form posts to the one page with an `op`; the services check who may edit and what a change
would lose. A change that would clear values (409) comes back as a confirmation carrying the same
form data plus `confirm`.
"""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseBadRequest, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from flows.models import Field, Flow, Stage, User
from flows.selectors import flow_can_edit, flow_member_get
from flowsite.api import Forbidden, ServiceError
from tasks import schema
from tasks.models import Task
from tasks.schema import ConfirmationRequired
from tasks.values import SELECT_TYPES

T = Field.Type


# --- form data -> service data -----------------------------------------------------------------


def _flag(post: QueryDict, name: str) -> bool:
    return post.get(name) in ("on", "true", "1")


def _stage_data(post: QueryDict) -> dict:
    return {
        "name": post.get("name", ""),
        "color": post.get("color") or "#64748b",
        "end_stage": _flag(post, "end_stage"),
        "outcome": post.get("outcome", ""),
    }


def _field_data(post: QueryDict) -> dict:
    kind = post.get("type", "")
    data = {
        "name": post.get("name", ""),
        "type": kind,
        "required": _flag(post, "required"),
        "unique": _flag(post, "unique"),
        "editable": _flag(post, "editable"),
    }
    if kind in SELECT_TYPES:
        data["options"] = [line.strip() for line in post.get("options", "").splitlines() if line.strip()]
    if kind == T.UNIQUE_ID:
        # Numbered by the server: always the key, never required or editable; the service sets these.
        for key in ("required", "unique", "editable"):
            data.pop(key)
    return data


def _moved(items: list, item, direction: str) -> int:
    index = next(i for i, other in enumerate(items) if other.pk == item.pk)
    return max(index - 1, 0) if direction == "up" else min(index + 1, len(items) - 1)


# --- operations: each returns the note to show --------------------------------------------------


def _stage_create(actor: User, flow: Flow, post: QueryDict) -> str:
    stage = schema.stage_create(actor=actor, flow=flow, data=_stage_data(post))
    return f"Stage “{stage.name}” added."


def _stage_update(actor: User, flow: Flow, post: QueryDict) -> str:
    stage = schema.stage_get(flow=flow, stage_id=post.get("stage_id"))
    stage = schema.stage_update(actor=actor, flow=flow, stage=stage, data=_stage_data(post))
    return f"Stage “{stage.name}” saved."


def _stage_move(actor: User, flow: Flow, post: QueryDict) -> str:
    stage = schema.stage_get(flow=flow, stage_id=post.get("stage_id"))
    position = _moved(schema.stage_list(flow=flow), stage, post.get("direction", ""))
    schema.stage_update(actor=actor, flow=flow, stage=stage, data={"position": position})
    return f"Stage “{stage.name}” moved."


def _stage_delete(actor: User, flow: Flow, post: QueryDict) -> str:
    stage = schema.stage_get(flow=flow, stage_id=post.get("stage_id"))
    moved = schema.stage_delete(actor=actor, flow=flow, stage=stage, move_to=post.get("move_to") or None, source="web")
    return f"Stage “{stage.name}” deleted." + (f" {moved} task{'s' if moved != 1 else ''} moved." if moved else "")


def _field_create(actor: User, flow: Flow, post: QueryDict) -> str:
    field = schema.field_create(actor=actor, flow=flow, data=_field_data(post), source="web")
    return f"Field “{field.name}” added."


def _field_update(actor: User, flow: Flow, post: QueryDict) -> str:
    field = schema.field_get(flow=flow, field_id=post.get("field_id"))
    field = schema.field_update(
        actor=actor, flow=flow, field=field, data=_field_data(post), confirm=_flag(post, "confirm"), source="web"
    )
    return f"Field “{field.name}” saved."


def _field_move(actor: User, flow: Flow, post: QueryDict) -> str:
    field = schema.field_get(flow=flow, field_id=post.get("field_id"))
    position = _moved(schema.field_list(flow=flow), field, post.get("direction", ""))
    schema.field_update(actor=actor, flow=flow, field=field, data={"position": position}, source="web")
    return f"Field “{field.name}” moved."


def _field_delete(actor: User, flow: Flow, post: QueryDict) -> str:
    field = schema.field_get(flow=flow, field_id=post.get("field_id"))
    schema.field_delete(actor=actor, flow=flow, field=field, confirm=_flag(post, "confirm"), source="web")
    return f"Field “{field.name}” deleted."


OPERATIONS: dict[str, Callable[[User, Flow, QueryDict], str]] = {
    "stage_create": _stage_create,
    "stage_update": _stage_update,
    "stage_move": _stage_move,
    "stage_delete": _stage_delete,
    "field_create": _field_create,
    "field_update": _field_update,
    "field_move": _field_move,
    "field_delete": _field_delete,
}


def _error_target(op: str, post: QueryDict) -> str:
    """Which form the reasons belong next to: "stage-new", "stage-12", "field-new", "field-7"."""
    kind = op.split("_", 1)[0]
    if op.endswith("_create"):
        return f"{kind}-new"
    return f"{kind}-{post.get(f'{kind}_id', '')}"


# --- the page ----------------------------------------------------------------------------------


def _context(flow: Flow, *, can_edit: bool, post: QueryDict | None = None, error_for: str = "", **extra) -> dict:
    stages = schema.stage_list(flow=flow)
    fields = schema.field_list(flow=flow)
    counts = dict(
        Task.objects.filter(flow=flow)
        .order_by()
        .values("stage_id")
        .annotate(n=Count("id"))
        .values_list("stage_id", "n")
    )
    for stage in stages:
        stage.task_count = counts.get(stage.pk, 0)
        stage.others = [other for other in stages if other.pk != stage.pk]
        stage.error_key = f"stage-{stage.pk}"
    for field in fields:
        field.options_text = "\n".join(field.options or [])
        field.error_key = f"field-{field.pk}"
    if post is not None and error_for:
        # The form that failed shows what was typed, not what is saved.
        _keep_typed(stages, fields, post, error_for)
    org, slug = flow.organization.parameterized_name, flow.parameterized_name
    return {
        "flow": flow,
        "can_edit": can_edit,
        "stages": stages,
        "fields": fields,
        "types": T.choices,
        "select_types": sorted(SELECT_TYPES),
        "outcomes": Stage.Outcome.choices,
        "schema_url": reverse("flow_schema", args=[org, slug]),
        "error_for": error_for,
        "typed": post if error_for.endswith("-new") else None,
        "typed_field": _typed_field(post) if error_for == "field-new" else None,
        **extra,
    }


def _typed_field(post: QueryDict) -> dict:
    """The add-field form as it was typed, to show again with the reasons."""
    return {
        "name": post.get("name", ""),
        "type": post.get("type", ""),
        "options_text": post.get("options", ""),
        "required": _flag(post, "required"),
        "unique": _flag(post, "unique"),
        "editable": _flag(post, "editable"),
    }


def _keep_typed(stages: list[Stage], fields: list[Field], post: QueryDict, error_for: str) -> None:
    kind, _, pk = error_for.partition("-")
    items = stages if kind == "stage" else fields
    item = next((i for i in items if str(i.pk) == pk), None)
    if item is None or post.get("op", "").endswith(("_move", "_delete")):
        return
    data = _stage_data(post) if kind == "stage" else _field_data(post)
    for key, value in data.items():
        setattr(item, key, value)
    if kind == "field":
        item.options_text = post.get("options", "")


def _reason(key: str, reason: str) -> str:
    if key in ("non_field_errors", "stage", "field"):
        return reason
    return f"{key.replace('_', ' ').capitalize()}: {reason}"


@login_required
@require_http_methods(["GET", "POST"])
def schema_page(request, org, flow):
    found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
    can_edit = flow_can_edit(flow=found, user=request.user)
    state: dict = {}
    status = 200
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Only organization admins and members allowed to edit this flow can change it.")
        op = request.POST.get("op", "")
        operation = OPERATIONS.get(op)
        if operation is None:
            return HttpResponseBadRequest("Unknown operation.")
        try:
            note = operation(request.user, found, request.POST)
        except ConfirmationRequired as exc:
            fields = [
                (key, value)
                for key, values in request.POST.lists()
                if key not in ("csrfmiddlewaretoken", "confirm")
                for value in values
            ]
            reasons = [reason for items in exc.errors.values() for reason in items]
            state = {"confirm": {"reasons": reasons, "lost": exc.lost, "fields": fields, "op": op}}
            status = 409
        except ServiceError as exc:
            reasons = [_reason(key, reason) for key, items in exc.errors.items() for reason in items]
            state = {"errors": reasons, "error_for": _error_target(op, request.POST), "post": request.POST}
            status = 422
        except Forbidden as exc:
            raise PermissionDenied(exc.message)
        else:
            if not request.htmx:
                messages.success(request, note)
                return redirect("flow_schema", org=org, flow=flow)
            state = {"note": note}
    context = _context(found, can_edit=can_edit, **state)
    if request.htmx:
        # 200 so htmx swaps the reasons or the confirmation in; the plain form keeps 409/422.
        return render(request, "tasks/schema.html#body", context)
    return render(request, "tasks/schema.html", context, status=status)
