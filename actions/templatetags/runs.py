"""Runs and their steps in words: "Failed", "Move to stage", "step 2 › then › 1"."""

from django import template

from actions.program import step_number as number_of
from actions.steps.base import step_label as label_of

register = template.Library()

STATUS_WORDS = {
    "pending": "Queued",
    "running": "Running",
    "waiting": "Waiting",
    "success": "Succeeded",
    "fail": "Failed",
    "skipped": "Skipped",
}


@register.filter
def run_status(status) -> str:
    return STATUS_WORDS.get(str(status), str(status).replace("_", " ").capitalize())


@register.filter
def step_label(type_name) -> str:
    """The step type's own label, as the Flow Builder and the workflow editor show it."""
    return label_of(str(type_name), default=str(type_name).replace("_", " ").capitalize())


@register.filter
def step_number(path) -> str:
    """A step's place as people count it: "0" is step 1, "1.then.0" is 2 › then › 1."""
    return number_of(str(path), " › ")
