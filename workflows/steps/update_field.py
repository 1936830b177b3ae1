"""update_field: set one field (or several) of the trigger task, values interpolated."""

from __future__ import annotations

from rest_framework import serializers

from actions.steps.base import (
    StepConfigError,
    StepConfigSerializer,
    StepFailed,
    StepResult,
    StepType,
    only_keys,
    register,
)
from tasks.services import task_update
from tasks.values import TaskValidationError
from workflows.steps._common import WORKFLOW, Trigger, check_field_names, clean_values, reasons


class UpdateFieldConfig(StepConfigSerializer):
    field = serializers.CharField(required=False, help_text='A field name (with "value"), or give "fields".')
    value = serializers.JSONField(required=False, help_text="null clears the field; {{trigger.x}} inserts data.")
    fields = serializers.DictField(required=False, help_text="Field names to values.")


@register
class UpdateField(StepType):
    type = "update_field"
    label = "Update field"
    contexts = WORKFLOW
    description = "Set a field of the record (or several) to a value; {{trigger.x}} inserts the record's data."
    Config = UpdateFieldConfig

    def summary(self, config):
        values = config.get("fields") or {config.get("field", ""): config.get("value")}
        return "Set " + "; ".join(f"{k} = {'(empty)' if v in (None, '') else v}" for k, v in values.items())

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"field", "value", "fields"})
        if "fields" in config:
            if "field" in config or "value" in config:
                raise StepConfigError("fields", 'give either "field" and "value" or "fields", not both')
            values = clean_values(config.get("fields"), "fields")
            check_field_names(values, flow, "fields")
            return {"fields": values}
        field = config.get("field")
        if not isinstance(field, str) or not field.strip():
            raise StepConfigError("field", "is required")
        if "value" not in config:
            raise StepConfigError("value", "is required (null clears the field)")
        values = clean_values({field.strip(): config.get("value")}, "value")
        check_field_names(values, flow, "field")
        return {"field": field.strip(), "value": config.get("value")}

    def execute(self, ctx, config):
        trigger = Trigger(ctx)
        values = dict(config["fields"]) if "fields" in config else {config["field"]: config.get("value")}
        data = trigger.data(values)

        def apply() -> None:
            try:
                task_update(task=trigger.task, actor=None, data=data, source=ctx.source, depth=ctx.depth)
            except TaskValidationError as exc:
                raise StepFailed(f"the values were refused ({reasons(exc.errors)})")

        return StepResult(output={"values": data}, apply=apply)
