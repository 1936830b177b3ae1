"""The workflow object in the seed's camelCase shape, and workflow runs."""

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent, build_object_type
from rest_framework import serializers

from actions.models import Run, StepRun
from actions.serializers import GenericConfig, public_config, step_variants
from flowsite.bounds import INT32_MAX
from flowsite.openapi import Discriminated
from workflows.conditions import LOGICS, OPERATORS
from workflows.models import Workflow
from workflows.triggers import TRIGGERS


def _public(action_type: str, config: dict) -> dict:
    config = public_config(action_type, config)
    if isinstance(config, dict):
        for label in ("then", "else"):
            if isinstance(config.get(label), list):
                config = {
                    **config,
                    label: [
                        {
                            **item,
                            "config": _public(item.get("actionType") or item.get("type", ""), item.get("config") or {}),
                        }
                        for item in config[label]
                        if isinstance(item, dict)
                    ],
                }
    return config


def workflow_json(workflow: Workflow) -> dict[str, Any]:
    return {
        "id": str(workflow.pk),
        "name": workflow.name,
        "description": workflow.description,
        "triggerModule": workflow.trigger_module,
        "triggerType": workflow.trigger_type,
        "triggerFilters": workflow.trigger_filters or {"logic": "AND", "conditions": []},
        "isActive": workflow.is_active,
        "version": workflow.version,
        "organization": workflow.organization.parameterized_name,
        "flowId": workflow.flow_id,
        "createdAt": workflow.created_at.isoformat(),
        "updatedAt": workflow.updated_at.isoformat(),
        "actions": [
            {
                "id": str(action.pk),
                "actionType": action.action_type,
                "config": _public(action.action_type, action.config),
                "sortOrder": action.sort_order,
            }
            for action in workflow.actions.all()
        ],
    }


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def workflow_run_json(run: Run, *, steps: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": run.pk,
        "workflowId": str(run.workflow_id) if run.workflow_id else None,
        "workflowName": run.name,
        "version": run.version,
        "status": run.status,
        "taskId": run.task_ref,
        "flowId": run.flow_id,
        "trigger": (run.context or {}).get("event", {}),
        "depth": run.depth,
        "errors": run.errors,
        "createdAt": _iso(run.created_at),
        "startedAt": _iso(run.started_at),
        "finishedAt": _iso(run.finished_at),
        "waitingUntil": _iso(run.wake_at) if run.status == Run.Status.WAITING else None,
    }
    if steps:
        data["steps"] = [
            {
                "path": sr.path,
                "actionId": sr.step_id,
                "type": sr.type,
                "status": sr.status,
                "attempts": sr.attempts,
                "startedAt": _iso(sr.started_at),
                "finishedAt": _iso(sr.finished_at),
                "durationMs": sr.duration_ms,
                "outcome": sr.output,
                "error": sr.error or None,
                "idempotencyKey": sr.idempotency_key,
                "request": sr.request,
                "response": sr.response,
            }
            for sr in run.step_runs.all()
        ]
    return data


# --- the same shapes, declared for DRF and the OpenAPI document -------------------------------

TRIGGER_TYPES = [trigger for triggers in TRIGGERS.values() for trigger in triggers]


class TriggerFiltersField(serializers.JSONField):
    """The filter group {"logic", "conditions"}: its fields, operators and values are checked against the
    trigger's field types by workflows.conditions (the service), which knows them."""


class TriggerFiltersSchema(OpenApiSerializerFieldExtension):
    """A group of conditions and nested groups: a recursive pair of components."""

    target_class = TriggerFiltersField

    def map_serializer_field(self, auto_schema, direction):
        condition = build_object_type(
            properties={
                "field": {"type": "string", "description": "A field of the trigger's records, or Stage, Assigned To."},
                "operator": {"type": "string", "enum": list(OPERATORS)},
                "value": {"description": "Absent for is_empty, is_not_empty and any_change; a list for in, not_in."},
            },
            required=["field", "operator"],
        )
        group_ref = {"$ref": "#/components/schemas/TriggerFilterGroup"}
        group = build_object_type(
            properties={
                "logic": {"type": "string", "enum": list(LOGICS)},
                "conditions": {
                    "type": "array",
                    "items": {"oneOf": [{"$ref": "#/components/schemas/TriggerFilterCondition"}, group_ref]},
                },
            },
            required=["logic", "conditions"],
        )
        for name, schema in (("TriggerFilterCondition", condition), ("TriggerFilterGroup", group)):
            auto_schema.registry.register_on_missing(
                ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
            )
        return group_ref


class ActionFields(serializers.Serializer):
    id = serializers.CharField(required=False, help_text="Sent back to keep an action's stored secrets.")
    actionType = serializers.CharField()  # the seed's camelCase
    config = GenericConfig(required=False, allow_null=True)
    sortOrder = serializers.IntegerField(required=False, min_value=0, max_value=INT32_MAX)


class WorkflowActionItem(Discriminated, ActionFields):
    """A workflow action: its type, and that type's config (a oneOf on actionType)."""

    component = "WorkflowAction"
    discriminator = "actionType"

    @classmethod
    def variants(cls):
        return step_variants(context="workflow", type_key="actionType", base=ActionFields, suffix="Action")


class WorkflowOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    triggerModule = serializers.ChoiceField(choices=list(TRIGGERS))
    triggerType = serializers.ChoiceField(choices=TRIGGER_TYPES)
    triggerFilters = TriggerFiltersField()
    isActive = serializers.BooleanField()
    version = serializers.IntegerField()
    organization = serializers.CharField(help_text="The organization's parameterized name.")
    flowId = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    actions = WorkflowActionItem(many=True)


class WorkflowRunStepOut(serializers.Serializer):
    path = serializers.CharField()
    actionId = serializers.CharField()
    type = serializers.CharField()
    status = serializers.ChoiceField(choices=StepRun.Status.choices)
    attempts = serializers.IntegerField()
    startedAt = serializers.DateTimeField(allow_null=True)
    finishedAt = serializers.DateTimeField(allow_null=True)
    durationMs = serializers.FloatField(allow_null=True)
    outcome = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    idempotencyKey = serializers.CharField()
    request = serializers.JSONField(allow_null=True)
    response = serializers.JSONField(allow_null=True)


class WorkflowRunOut(serializers.Serializer):
    id = serializers.IntegerField()
    workflowId = serializers.CharField(allow_null=True)
    workflowName = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Run.Status.choices)
    taskId = serializers.IntegerField()
    flowId = serializers.CharField()
    trigger = serializers.DictField(child=serializers.JSONField(), help_text="The task event that started it.")
    depth = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.JSONField())
    createdAt = serializers.DateTimeField()
    startedAt = serializers.DateTimeField(allow_null=True)
    finishedAt = serializers.DateTimeField(allow_null=True)
    waitingUntil = serializers.DateTimeField(allow_null=True)


class WorkflowRunDetailOut(WorkflowRunOut):
    steps = WorkflowRunStepOut(many=True)
