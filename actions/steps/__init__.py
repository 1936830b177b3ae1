"""Importing this package registers the action step types: every module in it is imported, and
each step module registers its type (the helpers register nothing). The apps above actions register
theirs in the same registry from their AppConfig.ready() (workflows.apps)."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

from actions.steps.base import REGISTRY, get_step_type, step_types  # noqa: E402, F401
