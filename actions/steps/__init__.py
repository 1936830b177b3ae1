"""Importing this package registers every step type (one module each), the workflow ones too."""

import workflows.steps  # noqa: F401
from actions.steps import api_call, email_notification, task_steps  # noqa: F401
from actions.steps.base import REGISTRY, get_step_type, step_types  # noqa: F401
