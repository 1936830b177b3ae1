"""What the workflow action types share: people references, the trigger task's JSON for
interpolation, failure messages from task validation. Registers no step type itself."""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import validate_email

from actions.steps.base import StepConfigError, StepContext, StepFailed
from flows.models import User
from flowsite.bounds import id_or_none
from flowsite.interpolation import interpolate, interpolate_data, interpolate_url, unknown_references
from tasks.selectors import task_with_relations
from tasks.services import BUILTIN_NAMES, flow_fields

WORKFLOW = ("workflow",)
MAX_PEOPLE = 100
# Anything with a placeholder is checked after substitution, when the value is known.
PLACEHOLDER = re.compile(r"\{\{.*?\}\}")


def has_placeholder(text: str) -> bool:
    return bool(PLACEHOLDER.search(text))


def organization_of(*, flow=None, organization=None):
    if organization is not None:
        return organization
    return flow.organization if flow is not None else None


# --- people ------------------------------------------------------------------------------------


def clean_person(value: Any, key: str) -> str | int:
    """A user reference: an id (int or numeric string) or an email. Kept in the form given."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise StepConfigError(key, "must be user ids or email addresses")
    if isinstance(value, int):
        if value <= 0:
            raise StepConfigError(key, f"{value} is not a user id")
        return value
    value = value.strip()
    if value.isdigit():
        return value

    try:
        validate_email(value)
    except Exception:
        raise StepConfigError(key, f'"{value[:80]}" is neither a user id nor an email address')
    return value.lower()


def clean_people(value: Any, key: str, *, organization=None, required: bool = True) -> list[str | int]:
    if value is None:
        value = []
    if not isinstance(value, list):
        raise StepConfigError(key, "must be a list of user ids or email addresses")
    if required and not value:
        raise StepConfigError(key, "needs at least one person")
    if len(value) > MAX_PEOPLE:
        raise StepConfigError(key, f"at most {MAX_PEOPLE} people")
    cleaned: list[str | int] = []
    for item in value:
        person = clean_person(item, key)
        if str(person) in {str(p) for p in cleaned}:
            raise StepConfigError(key, f"{person} is listed twice")
        cleaned.append(person)
    if organization is not None:
        for person in cleaned:
            if person_lookup(person, organization.members.all()) is None:
                raise StepConfigError(key, f"{person} is not a member of this organization")
    return cleaned


def person_lookup(person: str | int, users):
    """The user (from the queryset `users`) a reference names, or None."""
    if isinstance(person, int) or str(person).isdigit():
        pk = id_or_none(person)
        return users.filter(pk=pk).first() if pk is not None else None
    return users.filter(email__iexact=str(person)).first()


def flow_people(people: list, flow) -> list:
    """The referenced users who are active members of the flow now, in list order, without repeats.
    People who left the flow (or were blocked) are skipped."""
    members = User.objects.filter(
        is_active=True, flow_memberships__flow=flow, flow_memberships__disabled=False
    ).distinct()
    found = []
    for person in people:
        user = person_lookup(person, members)
        if user is not None and user.pk not in {u.pk for u in found}:
            found.append(user)
    return found


# --- the trigger task --------------------------------------------------------------------------


def fresh_task(ctx: StepContext):
    task = task_with_relations(task_id=ctx.task.pk)
    if task is None:
        raise StepFailed("the task no longer exists")
    return task


class Trigger:
    """The trigger task as data for `{{trigger.x}}`, read once per step."""

    def __init__(self, ctx: StepContext | None, *, task=None, task_json: dict | None = None):
        """From the step's context, or (a trial request) from a task and its JSON."""
        if ctx is not None:
            task, task_json = ctx.task, (ctx.task_json() if ctx.task is not None else None)
        if task is None:
            raise StepFailed("the task no longer exists")
        # The engine read the task fresh for this step.
        self.task = task
        self.json = task_json
        self.extra = {"id": self.task.pk}

    def text(self, template: str) -> str:
        return interpolate(template, self.json, extra=self.extra)

    def url(self, template: str) -> str:
        return interpolate_url(template, self.json, extra=self.extra)

    def data(self, data: Any) -> Any:
        return interpolate_data(data, self.json, extra=self.extra)


def reasons(errors: dict) -> str:
    return "; ".join(f"{name}: {', '.join(map(str, why))}" for name, why in errors.items())


def one_line(text: str) -> str:
    return " ".join(text.split())


def clean_values(value: Any, key: str, *, required: bool = True, max_fields: int = 100) -> dict:
    """An object of field names to values (strings may hold placeholders)."""
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise StepConfigError(key, "must be an object of field names to values")
    if required and not value:
        raise StepConfigError(key, "needs at least one field")
    if len(value) > max_fields:
        raise StepConfigError(key, f"at most {max_fields} fields")
    cleaned = {}
    for name, item in value.items():
        if not isinstance(name, str) or not name.strip():
            raise StepConfigError(key, "field names must be non-empty strings")
        if not isinstance(item, str | int | float | bool | list | type(None)):
            raise StepConfigError(f"{key}.{name}", "must be text, a number, true/false, a list or null")
        cleaned[name.strip()] = item
    return cleaned


def clean_stage_name(value: Any, flow) -> str:
    """An optional "stage" config: a stage name of `flow` when the flow is known ("" when unset)."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise StepConfigError("stage", "must be a stage name")
    name = value.strip()
    if flow is not None and not flow.stages.filter(name__iexact=name).exists():
        raise StepConfigError("stage", f'no stage named "{name}" in {flow.name}')
    return name


def check_field_names(values: dict, flow, key: str) -> None:
    """Field names must exist in the flow (built-ins included) when the flow is known."""
    if flow is None:
        return

    known = {f.name.lower() for f in flow_fields(flow=flow)} | {n.lower() for n in BUILTIN_NAMES}
    for name in values:
        if name.lower() not in known:
            raise StepConfigError(f"{key}.{name}", f'"{name}" is not a field of {flow.name}')


def check_references(data: Any, flow, key: str) -> None:
    """`{{trigger.x}}` names that no field of the flow answers to are typos: refuse them on save."""
    if flow is None:
        return

    unknown = unknown_references(data, [f.name for f in flow_fields(flow=flow)])
    if unknown:
        names = ", ".join(f"{{{{trigger.{name}}}}}" for name in sorted(unknown))
        raise StepConfigError(key, f"{names} names no field of {flow.name}")
