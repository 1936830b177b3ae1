"""The builder's step forms: what the step modal offers and how its errors and steps read. Each
step type declares its own form (actions.steps.base.StepType.form_*); this is what they share."""

from __future__ import annotations

import re

from actions.steps.base import (
    StepConfigError,
    get_step_type,
    step_types,
)
from actions.steps.base import step_summary as summary_of
from flows.models import Flow
from tasks.schema import field_list, stage_list

# --- step forms --------------------------------------------------------------------------------
# Each step type declares its form (form_template, form_initial, form_parse); a type without one
# gets a JSON editor, so a new step type works in the builder before it has a form.


def field_label(name: str) -> str:
    match = re.match(r"^headers\[(\d+)\](?:\.(name|value))?$", name)
    if match:
        return f"Header {int(match.group(1)) + 1}" + (f" {match.group(2)}" if match.group(2) else "")
    if name.startswith(("values.", "fields.")):
        return name.split(".", 1)[1]
    labels = {"url": "URL", "": "Step", "config": "Settings"}
    return labels.get(name, name.replace("_", " ").capitalize())


def step_label(type_name: str) -> str:
    try:
        return get_step_type(type_name).label
    except StepConfigError:
        return type_name


def step_summary(step: dict) -> str:
    return summary_of(step["type"], step["config"])


def step_public_config(step_type_name: str, config: dict) -> dict:
    try:
        return get_step_type(step_type_name).public_config(config)
    except StepConfigError:
        return config


def form_context(*, flow: Flow) -> dict:
    """What every step form may offer: stages, members, fields."""
    members = [m.user for m in flow.memberships.filter(disabled=False).select_related("user").order_by("user__email")]
    return {"stages": stage_list(flow=flow), "members": members, "fields": field_list(flow=flow)}


def action_step_types() -> list:
    return step_types(context="action")
