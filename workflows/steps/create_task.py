"""create_task: a follow-up task in the organization's tasks flow, linked to the trigger record."""

from __future__ import annotations

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
from tasks.models import TaskLink
from tasks.services import task_create, task_files_fetch
from tasks.values import Fetched, TaskValidationError
from workflows.modules import module_flow
from workflows.steps._common import (
    WORKFLOW,
    Trigger,
    check_field_names,
    clean_person,
    clean_stage_name,
    clean_values,
    flow_people,
    organization_of,
    person_lookup,
    reasons,
)


def resolve_assignee(assign_to, trigger: Trigger, target_flow) -> str | None:
    """The email the new task is assigned to: "owner" is the trigger record's assignee."""
    if assign_to in (None, ""):
        return None
    if assign_to == "owner":
        return trigger.task.assignee.email if trigger.task.assignee_id else None
    members = flow_people([assign_to], target_flow)
    if not members:
        raise StepFailed(f"{assign_to} is not a member of {target_flow.name}")
    return members[0].email


def clean_assign_to(config: dict, organization) -> str | int | None:
    value = config.get("assignTo")
    if value in (None, ""):
        return None
    if value == "owner":
        return "owner"
    person = clean_person(value, "assignTo")
    if organization is not None and person_lookup(person, organization.members.all()) is None:
        raise StepConfigError("assignTo", f"{person} is not a member of this organization")
    return person


class CreateTaskConfig(StepConfigSerializer):
    fields = serializers.DictField(required=False, help_text="Field names to values; {{trigger.x}} inserts data.")
    stage = serializers.CharField(required=False, help_text="A stage of the tasks flow.")
    assignTo = serializers.CharField(required=False, help_text='A user id, an email or "owner".')


@register
class CreateTask(StepType):
    type = "create_task"
    label = "Create task"
    contexts = WORKFLOW
    description = "Create a follow-up task in the organization's tasks flow, linked to the record."
    Config = CreateTaskConfig
    form = StepForm(
        "steps/create_task.html",
        rows=("fields",),
        text=("assignTo",),
        optional=("stage", "assignTo"),
        people=True,
        target_module="tasks",
    )

    def summary(self, config):
        title = next(iter((config.get("fields") or {}).values()), "")
        return f"Create a task {title}".strip()

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"fields", "stage", "assignTo"})
        organization = organization_of(flow=flow, organization=organization)
        fields = clean_values(config.get("fields"), "fields", required=False)
        cleaned: dict = {"fields": fields}
        target = module_flow(organization=organization, module="tasks") if organization is not None else None
        check_field_names(fields, target, "fields")
        stage = clean_stage_name(config.get("stage"), target)
        if stage:
            cleaned["stage"] = stage
        assign_to = clean_assign_to(config, organization)
        if assign_to is not None:
            cleaned["assignTo"] = assign_to
        return cleaned

    def execute(self, ctx, config):
        trigger = Trigger(ctx)
        organization = trigger.task.flow.organization
        target = module_flow(organization=organization, module="tasks")
        if target is None:
            raise StepFailed(f'{organization.name} has no enabled flow with the module "tasks" to create tasks in')
        data = trigger.data(dict(config.get("fields") or {}))
        if config.get("stage"):
            data["Stage"] = config["stage"]
        assignee = resolve_assignee(config.get("assignTo"), trigger, target)
        if assignee:
            data["Assigned To"] = assignee
        output: dict = {"flow": target.name}
        # Files named by remoteUrl are fetched before the engine opens the step's transaction.
        fetched = task_files_fetch(flow=target, data=data)

        def apply() -> None:
            created = create_linked(ctx, trigger.task, target, data, relation="follow_up", fetched=fetched)
            output["task_id"] = created.pk

        return StepResult(output=output, apply=apply)


def create_linked(ctx, source, target, data: dict, *, relation: str, fetched: Fetched):
    try:
        created = task_create(flow=target, actor=None, data=data, source=ctx.source, depth=ctx.depth, fetched=fetched)
    except TaskValidationError as exc:
        raise StepFailed(f"the new task was refused by {target.name} ({reasons(exc.errors)})")
    TaskLink.objects.create(from_task=source, to_task=created, relation=relation)
    return created
