"""The builder's step list: how its steps and their errors read. Each step type declares its one
form (actions.steps.base.StepForm), which both editors read and render with actions.step_forms."""

from __future__ import annotations

import re

from actions.steps.base import (
    StepConfigError,
    get_step_type,
    step_types,
)
from actions.steps.base import step_summary as summary_of


def field_label(name: str) -> str:
    match = re.match(r"^headers\[(\d+)\](?:\.(name|value))?$", name)
    if match:
        return f"Header {int(match.group(1)) + 1}" + (f" {match.group(2)}" if match.group(2) else "")
    if name.startswith(("values.", "fields.", "value.", "field.")):
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


def action_step_types() -> list:
    return step_types(context="action")
