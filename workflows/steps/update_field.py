"""update_field: set one field (or several) of the task, values interpolated.

Near-pair decision: Flowdash's "update_data" (an action step) and the CRM seed's "update_field" (a
workflow action) did the same thing, set fields of the task, with two config shapes. They are one
type with options: "update_field", usable in actions and workflows, "update_data" kept as its alias
(the APIs take it, stored programs run under it), and its `{"values": {...}}` config read as
`{"fields": {...}}`. Stored rows were rewritten by actions migration 0004 and workflows migration
0003. Values without placeholders are checked against the field types when saved (as update_data
did); values with placeholders when the step runs. A file named by remoteUrl is checked as a URL when
saved and fetched when the step runs: saving sends nothing, and an unreachable file fails the run."""

from __future__ import annotations

from django.http import Http404
from rest_framework import serializers

from actions.steps.base import (
    StepConfigError,
    StepConfigSerializer,
    StepFailed,
    StepForm,
    StepResult,
    StepType,
    only_keys,
    register,
)
from tasks.services import task_files_fetch, task_update, task_validate
from tasks.values import TaskValidationError
from workflows.steps._common import Trigger, check_field_names, clean_values, has_placeholder, reasons


class UpdateFieldConfig(StepConfigSerializer):
    field = serializers.CharField(required=False, help_text='A field name (with "value"), or give "fields".')
    value = serializers.JSONField(required=False, help_text="null clears the field; {{trigger.x}} inserts data.")
    fields = serializers.DictField(
        required=False, help_text='Field names to values ("values" is accepted for the alias update_data).'
    )


def typed(text, kind: str | None):
    """A row's typed text as the field's type takes it ("true" for a checkbox, "a, b" for several
    options); an empty value clears the field."""
    if not isinstance(text, str) or has_placeholder(text):
        return text
    if kind == "checkbox":
        return text.strip().lower() in ("true", "yes", "on", "1", "x")
    if kind == "multipleSelect":
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind is not None and text.strip() == "":
        return None
    return text


def check_types(values: dict, flow, key: str) -> None:
    """Literal values must suit their fields (placeholders are filled in when the step runs)."""
    if flow is None:
        return
    literal = {name: value for name, value in values.items() if not (isinstance(value, str) and has_placeholder(value))}
    if not literal:
        return
    try:
        task_validate(flow=flow, data=literal, partial=True, fetch_files=False)
    except TaskValidationError as exc:
        name, why = next(iter(exc.errors.items()))
        raise StepConfigError(f"{key}.{name}", ", ".join(map(str, why)))


@register
class UpdateField(StepType):
    type = "update_field"
    aliases = ("update_data",)
    label = "Update field"
    description = "Set a field of the record (or several) to a value; {{trigger.x}} inserts the record's data."
    Config = UpdateFieldConfig
    # One row is the seed's {"field", "value"}, whose errors point at the row.
    form = StepForm("steps/update_field.html", rows=("fields",), inputs={"field": "fields", "value": "fields"})

    def form_state(self, config):
        return {"fields": self.values(config)}

    def form_payload(self, config, context):
        """One row is the seed's {"field", "value"}; several are {"fields": {...}}. A value is read
        as its field's type takes it when the editor knows the fields (a placeholder stays text)."""
        types = {name.lower(): kind for name, kind in (context.get("field_types") or {}).items()}
        fields = {name: typed(value, types.get(name.lower())) for name, value in config.pop("fields", {}).items()}
        if len(fields) == 1:
            [(name, value)] = fields.items()
            return {**config, "field": name, "value": value}
        if fields:
            return {**config, "fields": fields}
        return {**config, "field": "", "value": ""}

    def summary(self, config):
        values = self.values(config)
        return "Set " + "; ".join(f"{k} = {'(empty)' if v in (None, '') else v}" for k, v in values.items())

    @staticmethod
    def values(config: dict) -> dict:
        if "fields" in config or "values" in config:
            return dict(config.get("fields", config.get("values")) or {})
        return {config.get("field", ""): config.get("value")}

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"field", "value", "fields", "values"})
        # Errors name the key the config was given with (an update_data config says "values").
        for key in ("fields", "values"):
            if key in config:
                if len(set(config) & {"field", "value", "fields", "values"}) > 1:
                    raise StepConfigError(key, f'give either "field" and "value" or "{key}", not both')
                values = clean_values(config.get(key), key)
                check_field_names(values, flow, key)
                check_types(values, flow, key)
                return {"fields": values}
        field = config.get("field")
        if not isinstance(field, str) or not field.strip():
            raise StepConfigError("field", "is required")
        if "value" not in config:
            raise StepConfigError("value", "is required (null clears the field)")
        values = clean_values({field.strip(): config.get("value")}, "value")
        check_field_names(values, flow, "field")
        check_types(values, flow, "value")
        return {"field": field.strip(), "value": config.get("value")}

    def execute(self, ctx, config):
        trigger = Trigger(ctx)
        data = trigger.data(self.values(config))
        # Files named by remoteUrl are fetched now, before the engine opens the transaction that
        # applies the step: a slow file server must not hold it (nor, on SQLite, the write lock).
        fetched = task_files_fetch(flow=trigger.task.flow, data=data)

        def apply() -> None:
            try:
                ctx.task_after = task_update(
                    task=trigger.task, actor=ctx.user, data=data, source=ctx.source, depth=ctx.depth, fetched=fetched
                )
            except TaskValidationError as exc:
                raise StepFailed(f"the values were refused ({reasons(exc.errors)})")
            except Http404:
                # The task service locks the row by id: the task was deleted since the step read it.
                raise StepFailed("the task no longer exists") from None

        return StepResult(output={"values": data}, apply=apply)
