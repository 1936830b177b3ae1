"""A flow's schema: its stages and typed fields.

Schema changes never leave tasks holding values their fields no longer accept: a type or
options change converts what converts, and a change that would clear values is refused with
409 (ConfirmationRequired) until the caller confirms, then it clears them and records task
events, so history says what was lost.
"""

import json
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.http import Http404

from flows.models import Field, Flow, Stage, User
from flows.selectors import flow_can_edit
from flows.services import flow_schema_bump
from flowsite.api import Forbidden, ServiceError
from flowsite.bounds import id_or_none
from tasks.models import Task, TaskEvent
from tasks.services import BUILTIN_NAMES, task_events_record
from tasks.values import (
    KEY_MAX,
    SELECT_TYPES,
    UNIQUE_TYPES,
    T,
    field_convert,
    field_to_json,
    flow_member_emails,
    key_text,
)

NAME_MAX = 100
OPTION_MAX = 100
OPTIONS_MAX = 200
# "id" is a key of the task JSON beside the built-ins, so no field may take it either.
RESERVED_NAMES = {name.lower() for name in BUILTIN_NAMES} | {"id"}
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_COLOR_RE = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
OUTCOMES = ("", *Stage.Outcome.values)
STAGE_KEYS = {"name", "color", "position", "end_stage", "outcome"}
FIELD_KEYS = {"name", "type", "required", "editable", "options", "unique", "position"}


class ConfirmationRequired(ServiceError):
    """The change would clear `lost` tasks' values; repeat it with confirm to go ahead (409)."""

    status_code = 409

    def __init__(self, errors: dict[str, list[str]], *, lost: int):
        super().__init__(errors)
        self.lost = lost


# --- JSON and reads ----------------------------------------------------------------------------


def stage_json(stage: Stage) -> dict[str, Any]:
    return {
        "id": stage.pk,
        "name": stage.name,
        "color": stage.color,
        "position": stage.position,
        "end_stage": stage.end_stage,
        "outcome": stage.outcome,
    }


def field_json(field: Field) -> dict[str, Any]:
    return {
        "id": field.pk,
        "name": field.name,
        "type": field.type,
        "required": field.required,
        "editable": field.editable,
        "options": list(field.options or []),
        "unique": field.unique,
        "position": field.position,
    }


def stage_list(*, flow: Flow) -> list[Stage]:
    return list(Stage.objects.filter(flow=flow).order_by("position", "id"))


def field_list(*, flow: Flow) -> list[Field]:
    return list(Field.objects.filter(flow=flow).order_by("position", "id"))


def stage_get(*, flow: Flow, stage_id) -> Stage:
    stage = Stage.objects.filter(flow=flow, pk=_int_or_none(stage_id)).first()
    if stage is None:
        raise Http404
    return stage


def field_get(*, flow: Flow, field_id) -> Field:
    field = Field.objects.filter(flow=flow, pk=_int_or_none(field_id)).first()
    if field is None:
        raise Http404
    return field


def _int_or_none(value) -> int | None:
    return id_or_none(value)


# --- validation helpers ------------------------------------------------------------------------


def _require_editor(actor: User, flow: Flow) -> None:
    if not flow_can_edit(flow=flow, user=actor):
        raise Forbidden("Only organization admins and members allowed to edit this flow can change its schema.")


def _lock_flow(flow: Flow) -> None:
    # One schema change at a time per flow: name checks, positions and task conversions stay consistent.
    Flow.objects.select_for_update().filter(pk=flow.pk).values_list("pk", flat=True).first()
    # Every schema change starts here, so here is where cached copies of the schema are retired.
    flow_schema_bump(flows=[flow])


def _unknown(data: dict, allowed: set[str]) -> dict[str, list[str]]:
    return {str(key): ["Unknown field."] for key in data if key not in allowed and key != "id"}


def _clean_name(value: Any, errors: dict, *, reserved: bool) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors["name"] = ["This field is required."]
        return None
    value = value.strip()
    if _CONTROL_RE.search(value):
        errors["name"] = ["Must be one line without control characters."]
    elif len(value) > NAME_MAX:
        errors["name"] = [f"Ensure this field has no more than {NAME_MAX} characters."]
    elif reserved and value.lower() in RESERVED_NAMES:
        errors["name"] = [f'"{value}" is a built-in name of the task; choose another.']
    return value


def _bool(data: dict, key: str, errors: dict) -> bool | None:
    if key not in data:
        return None
    if not isinstance(data[key], bool):
        errors[key] = ["Must be a boolean."]
        return None
    return data[key]


def _position(data: dict, errors: dict) -> int | None:
    if "position" not in data:
        return None
    value = data["position"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        errors["position"] = ["Must be a whole number of 0 or more."]
        return None
    return value


def _reorder(items: list, moved, position: int | None) -> None:
    """Put `moved` at `position` (or keep its place) and number everything 0..n-1."""
    others = [item for item in items if item.pk != moved.pk]
    if position is None:
        position = next((i for i, item in enumerate(items) if item.pk == moved.pk), len(others))
    others.insert(min(position, len(others)), moved)
    changed = []
    for index, item in enumerate(others):
        if item.position != index:
            item.position = index
            changed.append(item)
    if changed:
        type(moved).objects.bulk_update(changed, ["position"])


def _renumber(model, flow: Flow) -> None:
    items = list(model.objects.filter(flow=flow).order_by("position", "id"))
    changed = []
    for index, item in enumerate(items):
        if item.position != index:
            item.position = index
            changed.append(item)
    if changed:
        model.objects.bulk_update(changed, ["position"])


# --- stages ------------------------------------------------------------------------------------


def _clean_stage(data: dict, *, stage: Stage | None, flow: Flow) -> tuple[dict, int | None]:
    errors = _unknown(data, STAGE_KEYS)
    values: dict[str, Any] = {}
    if "name" in data or stage is None:
        name = _clean_name(data.get("name"), errors, reserved=False)
        if "name" not in errors:
            taken = Stage.objects.filter(flow=flow, name__iexact=name)
            if stage is not None:
                taken = taken.exclude(pk=stage.pk)
            if taken.exists():
                errors["name"] = ["A stage with this name already exists in this flow."]
            values["name"] = name
    if "color" in data:
        if not isinstance(data["color"], str) or not _COLOR_RE.match(data["color"]):
            errors["color"] = ["Must be a colour such as #2563eb."]
        else:
            values["color"] = data["color"].lower()
    end_stage = _bool(data, "end_stage", errors)
    if end_stage is not None:
        values["end_stage"] = end_stage
    if "outcome" in data:
        outcome = data["outcome"] if data["outcome"] is not None else ""
        if outcome not in OUTCOMES:
            errors["outcome"] = [f"Must be one of: {', '.join(repr(o) for o in OUTCOMES)}."]
        else:
            values["outcome"] = outcome
    position = _position(data, errors)
    final_end = values.get("end_stage", stage.end_stage if stage else False)
    final_outcome = values.get("outcome", stage.outcome if stage else "")
    if final_outcome and not final_end and "outcome" not in errors:
        errors["outcome"] = ["Only an end stage has an outcome."]
    if errors:
        raise ServiceError(errors)
    return values, position


def stage_create(*, actor: User, flow: Flow, data: dict) -> Stage:
    _require_editor(actor, flow)
    with transaction.atomic():
        _lock_flow(flow)
        values, position = _clean_stage(data, stage=None, flow=flow)
        stages = stage_list(flow=flow)
        stage = Stage(flow=flow, position=len(stages), **values)
        try:
            with transaction.atomic():
                stage.save()
        except IntegrityError:
            raise ServiceError({"name": ["A stage with this name already exists in this flow."]})
        _reorder([*stages, stage], stage, position)
    return stage


def stage_update(*, actor: User, flow: Flow, stage: Stage, data: dict) -> Stage:
    _require_editor(actor, flow)
    with transaction.atomic():
        _lock_flow(flow)
        stage = stage_get(flow=flow, stage_id=stage.pk)
        values, position = _clean_stage(data, stage=stage, flow=flow)
        for key, value in values.items():
            setattr(stage, key, value)
        try:
            with transaction.atomic():
                stage.save()
        except IntegrityError:
            raise ServiceError({"name": ["A stage with this name already exists in this flow."]})
        _reorder(stage_list(flow=flow), stage, position)
    return stage_get(flow=flow, stage_id=stage.pk)


def stage_delete(*, actor: User, flow: Flow, stage: Stage, move_to=None, source: str = "api") -> int:
    """Delete a stage; its tasks must be moved (move_to: a stage id) first. Returns how many moved."""
    _require_editor(actor, flow)
    with transaction.atomic():
        _lock_flow(flow)
        stage = stage_get(flow=flow, stage_id=stage.pk)
        if Stage.objects.filter(flow=flow).count() <= 1:
            raise ServiceError({"stage": ["A flow needs at least one stage; this is its last."]})
        tasks = list(Task.objects.select_for_update().filter(stage=stage).order_by("id"))
        target = None
        if move_to not in (None, ""):
            target = Stage.objects.filter(flow=flow, pk=_int_or_none(move_to)).exclude(pk=stage.pk).first()
            if target is None:
                raise ServiceError({"move_to": ["Must be the id of another stage of this flow."]})
        if tasks and target is None:
            count = len(tasks)
            noun = "task" if count == 1 else "tasks"
            raise ServiceError(
                {
                    "stage": [
                        f'"{stage.name}" holds {count} {noun}; name a stage to move {"it" if count == 1 else "them"} '
                        "to with move_to."
                    ]
                }
            )
        if tasks:
            Task.objects.filter(pk__in=[t.pk for t in tasks]).update(stage=target)
            for task in tasks:
                task.stage = target  # the events hand these objects to the workflows as they are now
            task_events_record(
                flow=flow,
                items=[(task, TaskEvent.Kind.UPDATED, {"Stage": [stage.name, target.name]}) for task in tasks],
                actor=actor,
                source=source,
            )
        stage.delete()
        _renumber(Stage, flow)
    return len(tasks)


# --- fields ------------------------------------------------------------------------------------


def _clean_options(value: Any, errors: dict) -> list[str] | None:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        errors["options"] = ["Must be a list of strings."]
        return None
    options: list[str] = []
    seen: set[str] = set()
    for item in value:
        item = item.strip()
        if not item or len(item) > OPTION_MAX or _CONTROL_RE.search(item):
            errors["options"] = [f"Each option must be one non-empty line of at most {OPTION_MAX} characters."]
            return None
        if item.lower() in seen:
            errors["options"] = [f'"{item}" is listed twice.']
            return None
        seen.add(item.lower())
        options.append(item)
    if len(options) > OPTIONS_MAX:
        errors["options"] = [f"At most {OPTIONS_MAX} options."]
        return None
    return options


def _clean_field(data: dict, *, field: Field | None, flow: Flow) -> tuple[dict, int | None]:
    errors = _unknown(data, FIELD_KEYS)
    values: dict[str, Any] = {}
    if "name" in data or field is None:
        name = _clean_name(data.get("name"), errors, reserved=True)
        if "name" not in errors:
            taken = Field.objects.filter(flow=flow, name__iexact=name)
            if field is not None:
                taken = taken.exclude(pk=field.pk)
            if taken.exists():
                errors["name"] = ["A field with this name already exists in this flow."]
            values["name"] = name
    if "type" in data or field is None:
        if data.get("type") not in T.values:
            errors["type"] = [f"Must be one of: {', '.join(T.values)}."]
        else:
            values["type"] = data["type"]
    for key in ("required", "editable", "unique"):
        flag = _bool(data, key, errors)
        if flag is not None:
            values[key] = flag
    if "options" in data:
        options = _clean_options(data["options"], errors)
        if options is not None:
            values["options"] = options
    position = _position(data, errors)
    if errors:
        raise ServiceError(errors)

    old_type = field.type if field else None
    kind = values.get("type", old_type)
    if kind == T.UNIQUE_ID:
        # Auto-increment: always the key, never typed in, never required of people.
        if data.get("unique") is False:
            errors["unique"] = ["A uniqueId field is always the unique key."]
        if data.get("editable") is True:
            errors["editable"] = ["A uniqueId field is assigned automatically and cannot be editable."]
        values.update(unique=True, editable=False, required=False)
    if field is not None and old_type != kind and T.UNIQUE_ID in (old_type, kind):
        errors["type"] = ["A field cannot change to or from uniqueId; add a new field instead."]
    options = values.get("options", field.options if field else [])
    if kind in SELECT_TYPES:
        if not options and "options" not in errors:
            errors["options"] = ["A select field needs at least one option."]
    elif "options" in data and values.get("options"):
        errors["options"] = ["Only singleSelect and multipleSelect fields have options."]
    else:
        values["options"] = []
    unique = values.get("unique", field.unique if field else False)
    if unique and kind not in UNIQUE_TYPES and "type" not in errors:
        errors["unique"] = [f"A {kind} field cannot be the unique key; use one of: {', '.join(sorted(UNIQUE_TYPES))}."]
    if unique and not (field and field.unique):
        other = Field.objects.filter(flow=flow, unique=True)
        if field is not None:
            other = other.exclude(pk=field.pk)
        other = other.first()
        if other is not None:
            errors["unique"] = [f'"{other.name}" is already this flow\'s unique key; a flow has at most one.']
    if errors:
        raise ServiceError(errors)
    return values, position


def _sample(values: list[tuple[Task, Any]], field: Field) -> str:
    shown = [f"{json.dumps(field_to_json(field, raw))} (task {task.pk})" for task, raw in values[:5]]
    more = f" and {len(values) - 5} more" if len(values) > 5 else ""
    return ", ".join(shown) + more


def _tasks(s: int) -> str:
    return f"{s} task has" if s == 1 else f"{s} tasks have"


def _set_keys(flow: Flow, field: Field | None, data_by_task: dict[int, dict] | None = None) -> None:
    """Recompute Task.key from the unique field (or clear it). Cleared first so swapped values never collide."""
    Task.objects.filter(flow=flow).exclude(key="").update(key="")
    if field is None or not field.unique:
        return
    key = str(field.pk)
    tasks = []
    for task in Task.objects.filter(flow=flow, data__has_key=key).only("pk", "data"):
        data = data_by_task.get(task.pk, task.data) if data_by_task else task.data
        task.key = key_text(field, data.get(key))
        if task.key:
            tasks.append(task)
    Task.objects.bulk_update(tasks, ["key"], batch_size=500)


def _check_unique(field: Field, values: dict[int, Any]) -> None:
    seen: dict[str, int] = {}
    for task_id, raw in sorted(values.items()):
        key = key_text(field, raw)
        if not key:
            continue
        if len(key) > KEY_MAX:
            raise ServiceError(
                {"unique": [f"Task {task_id}'s value is longer than {KEY_MAX} characters; it cannot be a unique key."]}
            )
        if key in seen:
            raise ServiceError(
                {
                    "unique": [
                        f"Tasks {seen[key]} and {task_id} share the value {key!r}; "
                        "values must be unique before this field can be the unique key."
                    ]
                }
            )
        seen[key] = task_id


def field_create(*, actor: User, flow: Flow, data: dict, source: str = "api") -> Field:
    _require_editor(actor, flow)
    with transaction.atomic():
        _lock_flow(flow)
        values, position = _clean_field(data, field=None, flow=flow)
        fields = field_list(flow=flow)
        field = Field(flow=flow, position=len(fields), **values)
        try:
            with transaction.atomic():
                field.save()
        except IntegrityError:
            raise ServiceError({"name": ["A field with this name already exists in this flow."]})
        _reorder([*fields, field], field, position)
        if field.type == T.UNIQUE_ID:
            _number_existing_tasks(flow=flow, field=field, actor=actor, source=source)
    return field


def _number_existing_tasks(*, flow: Flow, field: Field, actor: User, source: str) -> None:
    """A new uniqueId field numbers the tasks already in the flow, oldest first."""
    tasks = list(Task.objects.select_for_update().filter(flow=flow).order_by("id"))
    items = []
    for number, task in enumerate(tasks, start=1):
        task.data = {**(task.data or {}), str(field.pk): str(number)}
        items.append((task, TaskEvent.Kind.UPDATED, {field.name: [None, str(number)]}))
    Task.objects.bulk_update(tasks, ["data"], batch_size=500)
    field.next_value = len(tasks) + 1
    field.save(update_fields=["next_value"])
    _set_keys(flow, field)
    if items:
        task_events_record(flow=flow, items=items, actor=actor, source=source)


def _convert_all(*, flow: Flow, old: Field, new: Field) -> tuple[dict[int, Any], list[tuple[Task, Any]], list[Task]]:
    """Convert every task's value; returns (converted by task id, [(task, lost raw)], tasks touched)."""
    key = str(old.pk)
    # Lock every task of the flow, not only those holding a value: a concurrent write setting this
    # field for the first time would otherwise land an old-type value after the conversion.
    list(Task.objects.select_for_update().filter(flow=flow).values_list("pk", flat=True))
    tasks = list(Task.objects.filter(flow=flow, data__has_key=key).order_by("id"))
    members = flow_member_emails(flow) if new.type == T.PERSON else None
    converted: dict[int, Any] = {}
    lost: list[tuple[Task, Any]] = []
    for task in tasks:
        raw = task.data.get(key)
        if old.type == new.type == T.MULTIPLE_SELECT and isinstance(raw, list):
            options = {option.lower(): option for option in new.options}
            kept = [options[item.lower()] for item in raw if isinstance(item, str) and item.lower() in options]
            if len(kept) < len(raw):
                lost.append((task, raw))
            converted[task.pk] = kept or None
            continue
        try:
            converted[task.pk] = field_convert(old, new, raw, flow=flow, members=members)
        except ValueError:
            lost.append((task, raw))
            converted[task.pk] = None
    return converted, lost, tasks


def field_update(
    *, actor: User, flow: Flow, field: Field, data: dict, confirm: bool = False, source: str = "api"
) -> Field:
    _require_editor(actor, flow)
    with transaction.atomic():
        _lock_flow(flow)
        field = field_get(flow=flow, field_id=field.pk)
        old = Field.objects.get(pk=field.pk)
        values, position = _clean_field(data, field=field, flow=flow)
        for key, value in values.items():
            setattr(field, key, value)

        reshaped = old.type != field.type or list(old.options or []) != list(field.options or [])
        converted: dict[int, Any] = {}
        tasks: list[Task] = []
        if reshaped:
            converted, lost, tasks = _convert_all(flow=flow, old=old, new=field)
            if lost and not confirm:
                if old.type != field.type:
                    reason = f"cannot be converted to {field.type} and would be cleared"
                    key = "type"
                else:
                    reason = "are no longer among the options and would be cleared"
                    key = "options"
                raise ConfirmationRequired(
                    {key: [f"{_tasks(len(lost))} values that {reason}: {_sample(lost, old)}"]}, lost=len(lost)
                )
        if field.unique:
            values_now = {t.pk: t.data.get(str(field.pk)) for t in Task.objects.filter(flow=flow).only("pk", "data")}
            values_now.update(converted)
            _check_unique(field, values_now)

        try:
            with transaction.atomic():
                field.save()
        except IntegrityError:
            raise ServiceError({"name": ["A field with this name already exists in this flow."]})
        _reorder(field_list(flow=flow), field, position)

        items = []
        changed_tasks = []
        key = str(field.pk)
        for task in tasks:
            before, after = task.data.get(key), converted.get(task.pk)
            old_json, new_json = field_to_json(old, before), field_to_json(field, after)
            data_after = dict(task.data)
            if after is None:
                data_after.pop(key, None)
            else:
                data_after[key] = after
            if data_after != task.data:
                task.data = data_after
                changed_tasks.append(task)
            if old_json != new_json:
                items.append((task, TaskEvent.Kind.UPDATED, {field.name: [old_json, new_json]}))
        Task.objects.bulk_update(changed_tasks, ["data"], batch_size=500)
        if field.unique != old.unique or (field.unique and changed_tasks):
            _set_keys(flow, field)
        if items:
            task_events_record(flow=flow, items=items, actor=actor, source=source)
    return field_get(flow=flow, field_id=field.pk)


def field_delete(*, actor: User, flow: Flow, field: Field, confirm: bool = False, source: str = "api") -> int:
    """Delete a field; tasks' values in it go too (409 until confirmed). Returns how many tasks lost one."""
    _require_editor(actor, flow)
    with transaction.atomic():
        _lock_flow(flow)
        field = field_get(flow=flow, field_id=field.pk)
        key = str(field.pk)
        tasks = list(Task.objects.select_for_update().filter(flow=flow, data__has_key=key).order_by("id"))
        if tasks and not confirm:
            values = [(task, task.data.get(key)) for task in tasks]
            raise ConfirmationRequired(
                {
                    "field": [
                        f'{_tasks(len(tasks))} values in "{field.name}" that would be deleted: {_sample(values, field)}'
                    ]
                },
                lost=len(tasks),
            )
        items = []
        for task in tasks:
            items.append((task, TaskEvent.Kind.UPDATED, {field.name: [field_to_json(field, task.data.get(key)), None]}))
            task.data = {k: v for k, v in task.data.items() if k != key}
        Task.objects.bulk_update(tasks, ["data"], batch_size=500)
        if field.unique:
            Task.objects.filter(flow=flow).exclude(key="").update(key="")
        field.delete()
        _renumber(Field, flow)
        if items:
            task_events_record(flow=flow, items=items, actor=actor, source=source)
    return len(tasks)
