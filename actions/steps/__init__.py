"""Importing this package registers the action step types (one module each). The apps above
actions register theirs in the same registry from their AppConfig.ready() (workflows.apps)."""

from actions.steps import api_call, email_notification, task_steps  # noqa: F401
from actions.steps.base import REGISTRY, get_step_type, step_types  # noqa: F401
