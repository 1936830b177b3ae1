"""Business rules for actions: saving their design and performing them."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction

from actions.engine import run_create
from actions.models import Action, Run, Step
from actions.steps.base import StepConfigError, config_validate, get_step_type
from actions.versions import flow_design_version, flow_version_record
from flows.models import Flow, User
from flows.selectors import flow_can_edit, organization_is_admin
from flowsite.api import Forbidden, ServiceError

MAX_STEPS = 100
COLOR_RE = r"^#[0-9a-fA-F]{6}$"


class ActionUnavailable(Exception):
    """The action cannot be performed on this task now (Flowdash answers 422 with Fail)."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


def _clean_steps(flow: Flow, steps: Any, old_steps: dict[str, dict]) -> list[dict]:
    if not isinstance(steps, list):
        raise ServiceError({"steps": ["Must be a list of steps."]})
    if len(steps) > MAX_STEPS:
        raise ServiceError({"steps": [f"At most {MAX_STEPS} steps."]})
    cleaned = []
    for index, step in enumerate(steps):
        where = f"steps[{index}]"
        if not isinstance(step, dict):
            raise ServiceError({where: ["Must be an object with type and config."]})
        type_name = step.get("type")
        if not isinstance(type_name, str):
            raise ServiceError({f"{where}.type": ["This field is required."]})
        config = step.get("config", {})
        if config is None:
            config = {}
        old = old_steps.get(str(step.get("id"))) if step.get("id") is not None else None
        try:
            step_type = get_step_type(type_name)
            if "action" not in step_type.contexts:
                raise StepConfigError("type", f'"{type_name}" is a workflow action, not an action step')
            config = config_validate(
                step_type, config, flow=flow, old=old["config"] if old and old["type"] == step_type.type else None
            )
        except StepConfigError as exc:
            key = f"{where}.type" if exc.field == "type" else f"{where}.config.{exc.field}"
            raise ServiceError({key: [exc.message]})
        # Stored under the type's own name: an alias (update_data) is only a way in.
        cleaned.append({"id": old["id"] if old else None, "type": step_type.type, "config": config})
    return cleaned


def action_validate(*, flow: Flow, data: Any, action: Action | None = None) -> dict:
    """Validate an action's whole design; 400 naming the field (and step) that is wrong."""
    if not isinstance(data, dict):
        raise ServiceError({"body": ["Expected a JSON object."]})
    unknown = set(data) - {"id", "name", "color", "from_stages", "steps", "navigate"}
    if unknown:
        raise ServiceError({key: ["Unknown field."] for key in sorted(unknown)})
    partial = action is not None
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            errors["name"] = ["This field is required."]
        elif len(name.strip()) > 100:
            errors["name"] = ["Ensure this field has no more than 100 characters."]
        else:
            clash = flow.actions.filter(name__iexact=name.strip())
            if action is not None:
                clash = clash.exclude(pk=action.pk)
            if clash.exists():
                errors["name"] = ["An action with this name already exists in this flow."]
            out["name"] = name.strip()
    if "color" in data:
        color = data["color"]
        if not isinstance(color, str) or not re.match(COLOR_RE, color):
            errors["color"] = ["Must be a colour like #2563eb."]
        else:
            out["color"] = color
    if "navigate" in data:
        if data["navigate"] not in Action.Navigate.values:
            errors["navigate"] = [f"Must be one of: {', '.join(Action.Navigate.values)}."]
        else:
            out["navigate"] = data["navigate"]
    if "from_stages" in data:
        names = data["from_stages"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            errors["from_stages"] = ["Must be a list of stage names."]
        else:
            stages = {s.name.lower(): s for s in flow.stages.all()}
            missing = [n for n in names if n.lower() not in stages]
            if missing:
                errors["from_stages"] = [f'No stage named "{missing[0]}".']
            else:
                out["from_stages"] = [stages[n.lower()] for n in dict.fromkeys(names)]
    if errors:
        raise ServiceError(errors)
    if "steps" in data or not partial:
        old_steps = {}
        if action is not None:
            old_steps = {str(s.pk): {"id": s.pk, "type": s.type, "config": s.config} for s in action.steps.all()}
        out["steps"] = _clean_steps(flow, data.get("steps", []), old_steps)
    return out


def _require_editor(flow: Flow, user: User) -> None:
    if not flow_can_edit(flow=flow, user=user):
        raise Forbidden("Only organization admins and the people they allow can change this flow's design.")


def _write(action: Action, cleaned: dict) -> Action:
    for key in ("name", "color", "navigate"):
        if key in cleaned:
            setattr(action, key, cleaned[key])
    action.save()
    if "from_stages" in cleaned:
        action.from_stages.set(cleaned["from_stages"])
    if "steps" in cleaned:
        keep = {s["id"] for s in cleaned["steps"] if s["id"]}
        action.steps.exclude(pk__in=keep).delete()
        for position, step in enumerate(cleaned["steps"]):
            if step["id"]:
                Step.objects.filter(pk=step["id"], action=action).update(
                    type=step["type"], config=step["config"], position=position
                )
            else:
                Step.objects.create(action=action, type=step["type"], config=step["config"], position=position)
    return action


def action_create(*, flow: Flow, actor: User, data: Any, record_version: bool = True) -> Action:
    """Create an action. Records a new version of the flow's design unless the caller (the builder's
    Save, a restore) writes several actions and records one version for all of them."""
    _require_editor(flow, actor)
    cleaned = action_validate(flow=flow, data=data)
    with transaction.atomic():
        position = flow.actions.count()
        action = _write(Action(flow=flow, position=position), cleaned)
        if record_version:
            flow_version_record(flow=flow, actor=actor, summary=f'Created action "{action.name}"', source="api")
        return action


def action_update(*, action: Action, actor: User, data: Any, record_version: bool = True) -> Action:
    _require_editor(action.flow, actor)
    cleaned = action_validate(flow=action.flow, data=data, action=action)
    with transaction.atomic():
        action = _write(action, cleaned)
        if record_version:
            flow_version_record(flow=action.flow, actor=actor, summary=f'Changed action "{action.name}"', source="api")
        return action


def action_delete(*, action: Action, actor: User, record_version: bool = True) -> None:
    _require_editor(action.flow, actor)
    flow, name = action.flow, action.name
    with transaction.atomic():
        action.delete()
        if record_version:
            flow_version_record(flow=flow, actor=actor, summary=f'Deleted action "{name}"', source="api")


def action_is_available(*, action: Action, task) -> bool:
    stage_ids = {s.pk for s in action.from_stages.all()}
    return not stage_ids or task.stage_id in stage_ids


def action_requirements(*, action: Action, task) -> list[str]:
    """Why the action cannot be performed on the task now (empty when it can)."""
    errors = []
    if not action_is_available(action=action, task=task):
        errors.append(f'"{action.name}" is not available from stage "{task.stage.name}".')
    if not action.steps.exists():
        errors.append(f'"{action.name}" has no steps.')
    for field in task.flow.fields.filter(required=True):
        value = (task.data or {}).get(str(field.pk))
        if value in (None, "", [], {}):
            errors.append(f"{field.name} is required")
    return errors


def action_perform(*, action: Action, task, actor: User, performed_by: User | None = None) -> Run:
    """Start a run of the action on the task. Answers at once; the worker does the steps."""
    if performed_by is not None and performed_by.pk != actor.pk:
        if not organization_is_admin(user=actor, organization=action.flow.organization):
            raise Forbidden("Only organization admins can perform an action on someone else's behalf.")
        if not action.flow.memberships.filter(user=performed_by, disabled=False).exists():
            raise ActionUnavailable([f"{performed_by.email} is not a member of this flow."])
    errors = action_requirements(action=action, task=task)
    if errors:
        raise ActionUnavailable(errors)
    program = [{"id": str(step.pk), "type": step.type, "config": step.config} for step in action.steps.all()]
    with transaction.atomic():
        return run_create(
            kind=Run.Kind.ACTION,
            flow=action.flow,
            task=task,
            name=action.name,
            program=program,
            version=flow_design_version(action.flow),
            action=action,
            performed_by=performed_by or actor,
        )
