"""Workflow action types (seed 003), registered in the same step registry as action steps.
Each module registers one type; importing this package imports them all."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
