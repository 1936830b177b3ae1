"""What create_opportunity and create_project share: a new record in another module's flow, filled
from the trigger record by field name, linked to it. Registers no step type itself."""

from __future__ import annotations

from typing import ClassVar

from django.db import transaction
from rest_framework import serializers

from actions.steps.base import StepConfigError, StepConfigSerializer, StepFailed, StepResult, StepType, only_keys
from flows.models import Field
from tasks.models import TaskLink
from tasks.services import flow_fields, task_create, task_files_fetch
from tasks.values import Fetched, TaskValidationError, field_from_json, flow_member_emails, is_empty
from workflows.modules import module_flow
from workflows.steps._common import (
    WORKFLOW,
    Trigger,
    check_field_names,
    clean_stage_name,
    clean_values,
    organization_of,
    reasons,
)

# Never copied: the stage belongs to the source flow, the URL and id to the source record.
NOT_COPIED = {"stage", "task url", "id"}


def mapped_values(source_json: dict, target) -> tuple[dict, dict]:
    """(values for the target flow, {field: why skipped}) from the source record's JSON by field name.
    Each value is checked against the target field's type; the ones that do not fit are skipped."""
    by_name = {field.name.lower(): field for field in flow_fields(flow=target)}
    members = flow_member_emails(target)
    values: dict = {}
    skipped: dict = {}
    for name, value in source_json.items():
        key = name.lower()
        if key in NOT_COPIED or is_empty(value) or value is False:
            continue
        if key == "assigned to":
            if str(value).lower() in members:
                values["Assigned To"] = value
            else:
                skipped[name] = f"not a member of {target.name}"
            continue
        if key == "tags":
            values["Tags"] = value
            continue
        field = by_name.get(key)
        if field is None:
            skipped[name] = f"no such field in {target.name}"
            continue
        if field.type in (Field.Type.UNIQUE_ID, Field.Type.FILE):
            numbered = field.type == Field.Type.UNIQUE_ID
            skipped[field.name] = "numbered automatically" if numbered else "files are not copied"
            continue
        try:
            field_from_json(field, value, flow=target, members=members)
        except ValueError as exc:
            skipped[field.name] = str(exc)
            continue
        values[field.name] = value
    return values, skipped


class ConvertConfig(StepConfigSerializer):
    stage = serializers.CharField(required=False, help_text="A stage of the target module's flow.")
    fields = serializers.DictField(required=False, help_text="Values set on the new record over the mapped ones.")


class Convert(StepType):
    """Base of create_opportunity and create_project."""

    contexts = WORKFLOW
    Config = ConvertConfig

    def summary(self, config):
        stage = config.get("stage")
        return f"Create {self.noun}" + (f" in {stage}" if stage else "")

    source_module: ClassVar[str]
    target_module: ClassVar[str]
    relation: ClassVar[str]
    noun: ClassVar[str]

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"stage", "fields"})
        if flow is not None and flow.module and flow.module != self.source_module:
            raise StepConfigError("config", f"only works on records of the {self.source_module} module")
        organization = organization_of(flow=flow, organization=organization)
        target = module_flow(organization=organization, module=self.target_module) if organization else None
        cleaned: dict = {}
        stage = clean_stage_name(config.get("stage"), target)
        if stage:
            cleaned["stage"] = stage
        fields = clean_values(config.get("fields"), "fields", required=False)
        check_field_names(fields, target, "fields")
        if fields:
            cleaned["fields"] = fields
        return cleaned

    def execute(self, ctx, config):
        trigger = Trigger(ctx)
        source = trigger.task
        if source.flow.module != self.source_module:
            raise StepFailed(f"{source.flow.name} is not a {self.source_module} flow")
        organization = source.flow.organization
        target = module_flow(organization=organization, module=self.target_module)
        if target is None:
            raise StepFailed(f'{organization.name} has no enabled flow with the module "{self.target_module}"')
        existing = TaskLink.objects.filter(from_task=source, relation=self.relation).order_by("id").first()
        if existing is not None:
            # The trigger fired again (an update, a retry by hand): one record per source is enough.
            return StepResult(output={f"{self.noun}_id": existing.to_task_id, "existing": True}, apply=None)
        values, skipped = mapped_values(trigger.json, target)
        overrides = trigger.data(dict(config.get("fields") or {}))
        data = {**values, **overrides}
        if config.get("stage"):
            data["Stage"] = config["stage"]
        output: dict = {"flow": target.name, "skipped": skipped}
        # Files named by remoteUrl are fetched before the engine opens the step's transaction.
        fetched = task_files_fetch(flow=target, data=data)

        def apply() -> None:
            created = self.create(ctx, source, target, data, overrides, skipped, fetched)
            TaskLink.objects.create(from_task=source, to_task=created, relation=self.relation)
            output[f"{self.noun}_id"] = created.pk
            self.after(ctx, source, output)

        return StepResult(output=output, apply=apply)

    def create(self, ctx, source, target, data: dict, overrides: dict, skipped: dict, fetched: Fetched):
        """task_create; a copied value the target still refuses (a taken unique key, say) is skipped
        and the create tried once more. Refused overrides or missing required fields fail the step."""
        for attempt in range(2):
            try:
                with transaction.atomic():
                    return task_create(
                        flow=target, actor=None, data=data, source=ctx.source, depth=ctx.depth, fetched=fetched
                    )
            except TaskValidationError as exc:
                lowered = {name.lower() for name in overrides} | {"stage"}
                copied = [name for name in exc.errors if name.lower() not in lowered and name in data]
                if attempt or not copied or len(copied) != len(exc.errors):
                    raise StepFailed(f"the new {self.noun} was refused by {target.name} ({reasons(exc.errors)})")
                for name in copied:
                    skipped[name] = ", ".join(map(str, exc.errors[name]))
                    data.pop(name)
        raise AssertionError("unreachable")

    def after(self, ctx, source, output: dict) -> None:
        pass
