"""The workflow object in the seed's camelCase shape, and workflow runs."""

from typing import Any

from actions.models import Run
from actions.serializers import public_config
from workflows.models import Workflow


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
