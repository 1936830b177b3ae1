"""branch: evaluate conditions against the trigger record and continue with the `then` or the `else`
actions (each a list of actions, which may themselves branch)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from rest_framework import serializers

from actions.steps.base import (
    StepConfigError,
    StepConfigSerializer,
    StepForm,
    StepResult,
    StepType,
    config_validate,
    get_step_type,
    only_keys,
    register,
)
from flowsite.names import normalize_name
from tasks.services import flow_fields
from workflows.conditions import LOGICS, OPERATORS, FilterError, evaluate, validate_filter
from workflows.steps._common import WORKFLOW, Trigger

MAX_DEPTH = 5  # branches inside branches
MAX_STEPS = 50  # actions in one then/else list
MAX_TOTAL = 200  # actions under one branch, all levels
ITEM_KEYS = {"id", "actionType", "type", "config", "sortOrder"}
ITEM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def subtree(config: Any, depth: int = 1) -> tuple[int, int]:
    """(deepest branch level, number of nested actions) of a branch config; stops counting past the limits."""
    deepest, total = depth, 0
    if not isinstance(config, dict) or depth > MAX_DEPTH:
        return deepest, total
    for label in ("then", "else"):
        items = config.get(label)
        for item in items if isinstance(items, list) else []:
            total += 1
            if isinstance(item, dict) and (item.get("actionType") or item.get("type")) == "branch":
                level, count = subtree(item.get("config"), depth + 1)
                deepest, total = max(deepest, level), total + count
            if total > MAX_TOTAL:
                return deepest, total
    return deepest, total


def check_structure(group: Any, path: str = "") -> None:
    """Without a flow to name the fields, only the shape of the conditions can be checked."""
    operators = {normalize_name(op) for op in OPERATORS}
    prefix = f"{path}." if path else ""
    if not isinstance(group, dict):
        raise StepConfigError(path or "conditions", "must be a condition or a group object")
    logic = group.get("logic", "AND")
    if not isinstance(logic, str) or logic.strip().upper() not in LOGICS:
        raise StepConfigError(f"{prefix}logic", "must be AND or OR")
    conditions = group.get("conditions")
    if not isinstance(conditions, list):
        raise StepConfigError(f"{prefix}conditions", "must be a list")
    for index, item in enumerate(conditions):
        item_path = f"{prefix}conditions[{index}]"
        if isinstance(item, dict) and "conditions" in item:
            check_structure(item, item_path)
            continue
        if not isinstance(item, dict):
            raise StepConfigError(item_path, "must be a condition or a group object")
        if not isinstance(item.get("field"), str) or not item["field"].strip():
            raise StepConfigError(f"{item_path}.field", "field is required")
        operator = item.get("operator")
        if not isinstance(operator, str) or normalize_name(operator) not in operators:
            raise StepConfigError(f"{item_path}.operator", f'unknown operator "{str(operator)[:40]}"')


def field_types(flow) -> dict[str, str]:
    return {field.name: field.type for field in flow_fields(flow=flow)}


def clean_conditions(config: dict, flow) -> dict:
    group = {"logic": config.get("logic", "AND"), "conditions": config.get("conditions")}
    if not isinstance(group["conditions"], list):
        raise StepConfigError("conditions", "must be a list of conditions")
    if not group["conditions"]:
        raise StepConfigError("conditions", "needs at least one condition")
    if flow is None:
        check_structure(group)
        group["logic"] = group["logic"].strip().upper()
        return group
    try:
        return validate_filter(group, field_types(flow))
    except FilterError as exc:
        path, why = next(iter(exc.errors.items()))
        raise StepConfigError(path, "; ".join(why))


def clean_actions(items: Any, label: str, *, flow, organization, old: Any) -> list[dict]:
    """Nested actions, each validated by its own type; returned in the form they came in
    ({"actionType", "config"} from the API, {"id", "type", "config"} as a program), each with a
    stable "id" (kept when sent back, new otherwise), by which its masked secrets are matched."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise StepConfigError(label, "must be a list of actions")
    if len(items) > MAX_STEPS:
        raise StepConfigError(label, f"at most {MAX_STEPS} actions")
    old_items = old if isinstance(old, list) else []
    cleaned = []
    old_by_id = {str(o["id"]): o for o in old_items if isinstance(o, dict) and o.get("id")}
    seen_ids: set[str] = set()
    for index, item in enumerate(items):
        path = f"{label}[{index}]"
        if not isinstance(item, dict):
            raise StepConfigError(path, "must be an action object")
        unknown = sorted(set(item) - ITEM_KEYS)
        if unknown:
            raise StepConfigError(f"{path}.{unknown[0]}", "is not a key of an action")
        item_id = str(item["id"]) if item.get("id") else None
        if item_id is not None and (not ITEM_ID.fullmatch(item_id) or item_id in seen_ids):
            raise StepConfigError(
                f"{path}.id", "is not an action id of this list" if item_id in seen_ids else "is not an action id"
            )
        type_key = "actionType" if "actionType" in item else "type"
        type_name = item.get(type_key)
        if not isinstance(type_name, str) or not type_name:
            raise StepConfigError(f"{path}.actionType", "is required")
        try:
            step_type = get_step_type(type_name)
        except StepConfigError:
            raise StepConfigError(f"{path}.actionType", f'unknown action type "{type_name[:40]}"')
        if "workflow" not in step_type.contexts:
            raise StepConfigError(f"{path}.actionType", f'"{type_name}" cannot be used in a workflow')
        # The stored action this one edits, for its masked secrets: the one with the same id. Only an
        # action stored before nested actions had ids (none of the stored ones has one) is still
        # matched by its place; an action without an id among stored ones with ids is a new action.
        previous = old_by_id.get(item_id) if item_id else None
        if previous is None and not item_id and not old_by_id:
            previous = old_items[index] if index < len(old_items) and isinstance(old_items[index], dict) else None
        previous = previous or {}
        same_type = (previous.get("actionType") or previous.get("type")) == step_type.type
        try:
            config = config_validate(
                step_type,
                item.get("config") or {},
                flow=flow,
                organization=organization,
                old=(previous.get("config") if same_type else None),
            )
        except StepConfigError as exc:
            raise StepConfigError(f"{path}.config.{exc.field}", exc.message)
        item_id = item_id or str(uuid.uuid4())
        seen_ids.add(item_id)
        out: dict[str, Any] = {"id": item_id}
        if "sortOrder" in item:
            out["sortOrder"] = item["sortOrder"]
        out[type_key] = step_type.type
        out["config"] = config
        cleaned.append(out)
    return cleaned


def nested(config: dict):
    """(item, its step type) for every action directly in then/else."""
    for label in ("then", "else"):
        for item in config.get(label) or []:
            try:
                yield label, item, get_step_type(item.get("actionType") or item.get("type") or "")
            except StepConfigError:
                yield label, item, None


class BranchConfig(StepConfigSerializer):
    logic = serializers.ChoiceField(choices=("AND", "OR"), default="AND")
    conditions = serializers.ListField(
        child=serializers.DictField(), help_text="Conditions as in triggerFilters (field, operator, value)."
    )
    then = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="Actions ({actionType, config}) run when they hold."
    )


# "else" is a Python keyword: declared here rather than as a class attribute.
BranchConfig._declared_fields["else"] = serializers.ListField(
    child=serializers.DictField(), required=False, help_text="Actions run when the conditions do not hold."
)


@register
class Branch(StepType):
    type = "branch"
    label = "Branch"
    contexts = WORKFLOW
    description = "If the conditions hold, run the `then` actions, else the `else` actions."
    Config = BranchConfig
    form = StepForm("steps/branch.html", nested=True)

    def summary(self, config):
        count = len(config.get("conditions") or [])
        then, other = len(config.get("then") or []), len(config.get("else") or [])
        logic = config.get("logic", "AND")
        return f"If {count} condition{'s' if count != 1 else ''} hold ({logic}): {then} then, {other} else"

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"logic", "conditions", "then", "else"})
        depth, total = subtree(config)
        if depth > MAX_DEPTH:
            raise StepConfigError("then", f"branches can be nested at most {MAX_DEPTH} levels deep")
        if total > MAX_TOTAL:
            raise StepConfigError("then", f"at most {MAX_TOTAL} actions inside one branch")
        cleaned = clean_conditions(config, flow)
        old = old or {}
        for label in ("then", "else"):
            cleaned[label] = clean_actions(
                config.get(label), label, flow=flow, organization=organization, old=old.get(label)
            )
        return cleaned

    def public_config(self, config):
        out = dict(config)
        for label in ("then", "else"):
            out[label] = [
                {**item, "config": step_type.public_config(item.get("config") or {})} if step_type else item
                for item_label, item, step_type in nested(config)
                if item_label == label
            ]
        return out

    def secret_values(self, config):
        values: list[str] = []
        for _, item, step_type in nested(config):
            if step_type is not None:
                values += step_type.secret_values(item.get("config") or {})
        return values

    def execute(self, ctx, config):
        trigger = Trigger(ctx)
        context = ctx.trigger or {}
        old = context.get("old") if isinstance(context.get("old"), dict) else None
        changed = context.get("changed") if isinstance(context.get("changed"), list) else None
        matched = evaluate(
            {"logic": config.get("logic", "AND"), "conditions": config.get("conditions") or []},
            values=trigger.json,
            field_types=field_types(trigger.task.flow),
            old_values=old,
            changed=changed,
        )
        label = "then" if matched else "else"
        return StepResult(output={"matched": matched, "branch": label}, branch=(label, config.get(label) or []))
