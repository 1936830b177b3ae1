"""JSON shapes of actions and runs (executions), as Flowdash had them."""

from typing import Any

from actions.models import Action, Run
from actions.steps.base import get_step_type

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
