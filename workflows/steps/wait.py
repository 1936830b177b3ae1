"""wait: park the run for a while; the run waits in the database, so it survives restarts."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from actions.steps.base import (
    StepConfigError,
    StepConfigSerializer,
    StepForm,
    StepResult,
    StepType,
    only_keys,
    register,
)

UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
MAX_SECONDS = 366 * 86400


class WaitConfig(StepConfigSerializer):
    duration = serializers.FloatField(help_text="Greater than 0; at most 366 days in all.")
    unit = serializers.ChoiceField(choices=tuple(UNITS), default="minutes")


@register
class Wait(StepType):
    type = "wait"
    label = "Wait"
    contexts = ("workflow",)
    needs_task = False
    description = "Wait for a time before the next action."
    Config = WaitConfig
    form = StepForm("steps/wait.html", text=("duration",), defaults={"duration": "5", "unit": "minutes"})

    def summary(self, config):
        return f"Wait {config.get('duration')} {config.get('unit', 'minutes')}"

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"duration", "unit"})
        unit = config.get("unit", "minutes")
        if unit not in UNITS:
            raise StepConfigError("unit", f"must be one of {', '.join(UNITS)}")
        duration = config.get("duration")
        if isinstance(duration, str):
            try:
                duration = float(duration) if "." in duration else int(duration)
            except ValueError:
                raise StepConfigError("duration", "must be a number")
        if isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0:
            raise StepConfigError("duration", "must be a number greater than 0")
        if duration * UNITS[unit] > MAX_SECONDS:
            raise StepConfigError("duration", "must be at most 366 days")
        return {"duration": duration, "unit": unit}

    def execute(self, ctx, config):
        seconds = float(config["duration"]) * UNITS[config.get("unit", "minutes")]
        until = timezone.now() + timedelta(seconds=seconds)
        return StepResult(output={"seconds": seconds}, wait_until=until)
