"""Steps that change the task itself: move to stage, assign, delete, schedule a move. (Setting
fields is the update_field type, workflows.steps.update_field, whose alias is update_data.)"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

from django.http import Http404
from django.utils import timezone
from rest_framework import serializers

from actions.steps.base import (
    StepConfigError,
    StepConfigSerializer,
    StepContext,
    StepFailed,
    StepForm,
    StepResult,
    StepType,
    only_keys,
    register,
)
from flows.models import User
from tasks.models import Task
from tasks.services import task_delete, task_set_assignee, task_set_stage

# The assign form's choice for "whoever performs the action".
PERFORMER = "__performer__"


def _stage_by_name(flow, name: str):
    if flow is None:
        return None
    return flow.stages.filter(name__iexact=name).first()


def _clean_stage(config: dict, flow) -> str:
    stage = config.get("stage")
    if not isinstance(stage, str) or not stage.strip():
        raise StepConfigError("stage", "is required")
    if flow is not None and _stage_by_name(flow, stage.strip()) is None:
        raise StepConfigError("stage", f'no stage named "{stage.strip()}" in this flow')
    return stage.strip()


def _fresh_task(ctx: StepContext):
    task = Task.objects.filter(pk=ctx.task.pk).first()
    if task is None:
        raise StepFailed("the task no longer exists")
    return task


@contextmanager
def _task_still_there():
    """The task services lock the task row by id and answer Http404 when it is gone (deleted since
    the step read it): that fails the step with a reason, without reading the row a second time."""
    try:
        yield
    except Http404:
        raise StepFailed("the task no longer exists") from None


class MoveToStageConfig(StepConfigSerializer):
    stage = serializers.CharField(help_text="A stage name of the flow.")


@register
class MoveToStage(StepType):
    type = "move_to_stage"
    label = "Move to stage"
    description = "Move the task to a stage."
    Config = MoveToStageConfig
    form = StepForm("steps/move_to_stage.html")

    def target_stage(self, config):
        return str(config.get("stage", "")).strip() or None

    @classmethod
    def for_stage(cls, stage_name):
        return {"stage": stage_name}

    def effect(self, output):
        if output.get("stage"):
            return f"moved to {output['stage']}"
        return super().effect(output)

    def summary(self, config):
        return f"Move to {config.get('stage')}"

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"stage"})
        return {"stage": _clean_stage(config, flow)}

    def execute(self, ctx, config):
        def apply():
            stage = _stage_by_name(ctx.flow, config["stage"])
            if stage is None:
                raise StepFailed(f'stage "{config["stage"]}" no longer exists')
            with _task_still_there():
                ctx.task_after = task_set_stage(
                    task=ctx.task, actor=ctx.user, stage=stage, source=ctx.source, depth=ctx.depth
                )

        return StepResult(output={"stage": config["stage"]}, apply=apply)


class AssignToConfig(StepConfigSerializer):
    email = serializers.EmailField(required=False, allow_null=True, help_text="A member of the flow; null unassigns.")
    performer = serializers.BooleanField(required=False, help_text="Assign to whoever performs the action.")


@register
class AssignTo(StepType):
    """One named person, the performer, or nobody. Kept apart from the workflows' assign_owner (a
    rotation over a list); the decision is written in workflows/steps/assign_owner.py."""

    type = "assign_to"
    label = "Assign to"
    description = "Assign the task to a person (or to whoever performs the action), or unassign it."
    Config = AssignToConfig
    # One choice: a person's email, whoever performs the action, or nobody.
    form = StepForm("steps/assign_to.html", people=True, inputs={"performer": "email"})

    def form_state(self, config):
        return {"email": PERFORMER if config.get("performer") else (config.get("email") or "")}

    def form_payload(self, config, context):
        value = str(config.get("email") or "")
        return {"performer": True} if value == PERFORMER else {"email": value or None}

    def summary(self, config):
        if config.get("performer"):
            return "Assign to whoever performs it"
        return f"Assign to {config['email']}" if config.get("email") else "Unassign"

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"email", "performer"})
        performer = config.get("performer", False)
        if not isinstance(performer, bool):
            raise StepConfigError("performer", "must be true or false")
        email = config.get("email")
        if performer:
            return {"performer": True}
        if email in (None, ""):
            return {"email": None}
        if not isinstance(email, str):
            raise StepConfigError("email", "must be an email")
        if flow is not None and not flow.memberships.filter(user__email__iexact=email.strip(), disabled=False).exists():
            raise StepConfigError("email", f"{email} is not a member of this flow")
        return {"email": email.strip().lower()}

    def execute(self, ctx, config):
        def apply():
            if config.get("performer"):
                assignee = ctx.user
            elif config.get("email"):
                assignee = User.objects.filter(email__iexact=config["email"]).first()
                if assignee is None or not ctx.flow.memberships.filter(user=assignee, disabled=False).exists():
                    raise StepFailed(f"{config['email']} is no longer a member of this flow")
            else:
                assignee = None
            with _task_still_there():
                ctx.task_after = task_set_assignee(
                    task=ctx.task, actor=ctx.user, assignee=assignee, source=ctx.source, depth=ctx.depth
                )

        performer = ctx.user.email if config.get("performer") and ctx.user is not None else None
        return StepResult(output={"assigned_to": performer or config.get("email")}, apply=apply)


@register
class DeleteTask(StepType):
    type = "delete_task"
    label = "Delete task"
    description = "Delete the task; later steps do not run."
    form = StepForm("steps/delete_task.html")

    def form_payload(self, config, context):
        return {}

    def summary(self, config):
        return "Delete the task"

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, set())
        return {}

    def execute(self, ctx, config):
        def apply():
            with _task_still_there():
                task_delete(task=ctx.task, actor=ctx.user, source=ctx.source, depth=ctx.depth)

        return StepResult(output={"deleted": ctx.task.pk}, apply=apply, stop=True)


class ScheduleStageChangeConfig(StepConfigSerializer):
    stage = serializers.CharField(help_text="A stage name of the flow.")
    days = serializers.FloatField(min_value=0, max_value=3650)


@register
class ScheduleStageChange(StepType):
    type = "schedule_stage_change"
    label = "Schedule stage change"
    description = "Move the task to a stage after a number of days (durable across restarts)."
    Config = ScheduleStageChangeConfig
    form = StepForm("steps/schedule_stage_change.html", numbers=("days",), defaults={"stage": "", "days": 1})

    def summary(self, config):
        days = config.get("days")
        return f"Move to {config.get('stage')} after {days} day{'s' if days != 1 else ''}"

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"stage", "days"})
        days = config.get("days")
        if isinstance(days, bool) or not isinstance(days, int | float) or not 0 <= days <= 3650:
            raise StepConfigError("days", "must be a number of days between 0 and 3650")
        return {"stage": _clean_stage(config, flow), "days": days}

    def execute(self, ctx, config):
        due = timezone.now() + timedelta(days=config["days"])
        program = [{"id": f"scheduled-{ctx.path}", "type": "move_to_stage", "config": {"stage": config["stage"]}}]

        def apply():
            # A run of its own, parked until the date: it survives restarts like every run.
            ctx.run_create(
                kind=ctx.run.kind,
                flow=ctx.flow,
                task=_fresh_task(ctx),
                name=f"{ctx.run.name} (scheduled move to {config['stage']})",
                program=program,
                version=ctx.run.version,
                action=ctx.run.action,
                workflow=ctx.run.workflow,
                performed_by=ctx.user,
                context=ctx.run.context,
                depth=ctx.depth,
                wake_at=due,
            )

        return StepResult(output={"stage": config["stage"], "due": due.isoformat()}, apply=apply)
