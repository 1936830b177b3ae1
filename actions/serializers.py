"""JSON shapes of actions and runs (executions), as Flowdash had them."""

from typing import Any

from rest_framework import serializers

from actions.models import Action, Run, StepRun
from actions.steps.base import get_step_type, step_types
from flowsite.openapi import ConstField, Discriminated

# Flowdash's execution statuses: running and waiting runs are still Pending to a caller.
PUBLIC_STATUS = {
    Run.Status.PENDING: "Pending",
    Run.Status.RUNNING: "Pending",
    Run.Status.WAITING: "Pending",
    Run.Status.SUCCESS: "Success",
    Run.Status.FAIL: "Fail",
}


def public_config(type_name: str, config: dict) -> dict:
    try:
        return get_step_type(type_name).public_config(config)
    except Exception:
        return config


def action_json(action: Action) -> dict[str, Any]:
    return {
        "id": action.pk,
        "name": action.name,
        "color": action.color,
        "from_stages": [s.name for s in action.from_stages.all()],
        "steps": [
            {"id": step.pk, "type": step.type, "config": public_config(step.type, step.config)}
            for step in action.steps.all()
        ],
        "navigate": action.navigate,
    }


def run_json(run: Run) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": run.pk,
        "status": PUBLIC_STATUS[run.status],
        "state": run.status,
        "action": {"id": run.action_id, "name": run.name} if run.kind == Run.Kind.ACTION else None,
        "task_id": run.task_ref,
        "performed_by": run.performed_by.email if run.performed_by else None,
        "version": run.version,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "steps": [
            {
                "path": sr.path,
                "id": sr.step_id,
                "type": sr.type,
                "status": sr.status,
                "attempts": sr.attempts,
                "started_at": sr.started_at.isoformat() if sr.started_at else None,
                "finished_at": sr.finished_at.isoformat() if sr.finished_at else None,
                "duration_ms": sr.duration_ms,
                "error": sr.error or None,
                "idempotency_key": sr.idempotency_key,
                "request": sr.request,
                "response": sr.response,
            }
            for sr in run.step_runs.all()
        ],
    }
    if run.status == Run.Status.FAIL:
        data["errors"] = run.errors
    return data


# --- the same shapes, declared for DRF and the OpenAPI document -------------------------------


class GenericConfig(serializers.DictField):
    """A step type's config as a JSON object; the step type's own `validate` checks it."""

    child = serializers.JSONField()


def step_config_serializers(context: str) -> list[tuple[str, serializers.Field]]:
    """(type name, config serializer) for every step type usable in `context` ("action" or "workflow").

    The one place the API's documents learn each step type's config: each step type declares its own
    (actions.steps.base.StepType.config_serializer)."""
    return [(step_type.type, step_type.config_serializer()) for step_type in step_types(context)]


def step_variants(*, context: str, type_key: str, base: type[serializers.Serializer], suffix: str) -> dict:
    """One serializer per step type of `context`: `base` with `type_key` fixed to the type's name and the
    type's config serializer, for the documents' `oneOf`."""
    variants = {}
    for name, config in step_config_serializers(context):
        label = "".join(part.capitalize() for part in name.split("_"))
        attrs = {type_key: ConstField(name), "config": config, "__module__": __name__}
        variants[name] = type(f"{label}{suffix}", (base,), attrs)
    return variants


class StepFields(serializers.Serializer):
    id = serializers.IntegerField(required=False, help_text="Sent back to keep a step's stored secrets.")
    type = serializers.CharField()
    config = GenericConfig(required=False, allow_null=True)


class ActionStep(Discriminated, StepFields):
    """A step of an action: its type, and that type's config."""

    component = "ActionStep"
    discriminator = "type"

    @classmethod
    def variants(cls):
        return step_variants(context="action", type_key="type", base=StepFields, suffix="Step")


class ActionOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    color = serializers.CharField()
    from_stages = serializers.ListField(child=serializers.CharField(), help_text="Stage names; empty: any stage.")
    steps = ActionStep(many=True)
    navigate = serializers.ChoiceField(choices=Action.Navigate.choices)


class RunStepOut(serializers.Serializer):
    path = serializers.CharField()
    id = serializers.CharField(help_text="The step's id as it was when the run started.")
    type = serializers.CharField()
    status = serializers.ChoiceField(choices=StepRun.Status.choices)
    attempts = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    idempotency_key = serializers.CharField()
    request = serializers.JSONField(allow_null=True)
    response = serializers.JSONField(allow_null=True)


class RunActionOut(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()


class RunOut(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=list(dict.fromkeys(PUBLIC_STATUS.values())))
    state = serializers.ChoiceField(choices=Run.Status.choices)
    action = RunActionOut(allow_null=True)
    task_id = serializers.IntegerField()
    performed_by = serializers.EmailField(allow_null=True)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    steps = RunStepOut(many=True)
    errors = serializers.ListField(child=serializers.JSONField(), required=False, help_text="When it failed.")
