"""The builder's trial request: "Send test request" sends a step's request for a sample task through
the signed client and the outbound boundary, and says what its answer would change. Nothing is changed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.http import Http404

from actions.builder.draft import require_editor
from actions.steps import http
from actions.steps.base import (
    StepFailed,
    StepType,
)
from flows.models import Flow, User
from tasks.identity import task_identity
from tasks.models import Task
from tasks.schema import field_list, stage_list
from tasks.services import task_to_json, task_validate
from tasks.values import TaskValidationError, field_to_json

# --- test request -------------------------------------------------------------------------------


@dataclass
class TrialOutcome:
    request: dict | None = None
    response: dict | None = None
    error: str = ""
    task_label: str = ""
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    task_errors: dict[str, list[str]] = field(default_factory=dict)
    has_task: bool = False
    answer_note: str = ""


def sample_tasks(*, flow: Flow, action: dict | None, limit: int = 20) -> list:
    """Real tasks to try an API Call with, those the action is available from first."""
    tasks = Task.objects.filter(flow=flow).select_related("stage", "assignee").order_by("-id")
    if action and action["from_stages"]:
        preferred = list(tasks.filter(stage_id__in=action["from_stages"])[:limit])
        rest = list(tasks.exclude(stage_id__in=action["from_stages"])[: max(0, limit - len(preferred))])
        return preferred + rest
    return list(tasks[:limit])


def task_label(task, fields) -> str:
    """The task's one identity (tasks.identity), then where it is and what it is about."""
    values = []
    for f in fields:
        if f.unique:
            continue  # already the identity
        value = field_to_json(f, (task.data or {}).get(str(f.pk)))
        if isinstance(value, str) and value:
            values.append(value)
        if len(values) == 2:
            break
    return f"{task_identity(task)} · {task.stage.name}" + (f" · {' · '.join(values)}" if values else "")


def _schema_sample(flow: Flow, action: dict | None, actor: User) -> dict:
    """A task built from the schema, for flows without tasks yet."""
    stages = stage_list(flow=flow)
    stage = next((s for s in stages if action and s.pk in action["from_stages"]), stages[0] if stages else None)
    samples = {
        "number": "1",
        "currency": "100.00",
        "date": date.today().isoformat(),
        "datetime": f"{date.today().isoformat()}T09:00:00Z",
        "checkbox": False,
        "email": "person@example.com",
        "url": "https://example.com",
        "phone": "+1 555 0100",
        "person": actor.email,
        "multipleSelect": [],
        "file": [],
    }
    task: dict[str, Any] = {"Stage": stage.name if stage else None, "Assigned To": actor.email}
    for f in field_list(flow=flow):
        if f.type in ("singleSelect",):
            task[f.name] = (f.options or [None])[0]
        elif f.type == "multipleSelect":
            task[f.name] = list(f.options or [])[:1]
        elif f.type == "uniqueId":
            task[f.name] = str(f.next_value)
        else:
            task[f.name] = samples.get(f.type, f"Sample {f.name}")
    task.update({"Tags": [], "Task URL": None, "id": None})
    return task


def send_test_request(
    *, flow: Flow, actor: User, action: dict, step_type: StepType, config: dict, task_id: str | None
) -> TrialOutcome:
    """Send the API Call as it would go out when the action is performed on a sample task, through
    the same signed client and outbound boundary, and tell what its answer's "task" would change."""
    require_editor(flow=flow, user=actor)
    fields = field_list(flow=flow)
    task = None
    if task_id:
        task = Task.objects.filter(flow=flow, pk=task_id if str(task_id).isdigit() else None).first()
        if task is None:
            raise Http404
        task_json = task_to_json(task=task, fields=fields)
        label = task_label(task, fields)
    else:
        task_json = _schema_sample(flow, action, actor)
        label = "a sample task built from the schema"
    outcome = TrialOutcome(task_label=label)
    try:
        # The request the step itself builds (its own code, as a dry run).
        out = step_type.trial_request(config, task=task, task_json=task_json, user=actor, name=action["name"])
        response, request_record, secrets = http.signed_send(
            **out, idempotency_key=f"test-{uuid.uuid4().hex}", signing_secret=flow.signing_secret
        )
    except StepFailed as exc:
        outcome.request, outcome.error = exc.request, exc.message
        return outcome
    outcome.request = request_record
    outcome.response = http.response_record(response, secrets)
    if not response.ok:
        outcome.answer_note = (
            f"A non-2xx answer stops the action at this step: the API answered {response.status_code}."
        )
        return outcome
    answer = response.json()
    changes = answer.get("task") if isinstance(answer, dict) else None
    if changes is None:
        outcome.answer_note = 'The answer has no "task" object: the task would not change.'
        return outcome
    if response.truncated:
        outcome.answer_note = "The answer was cut at the size limit, so its task would be ignored."
        return outcome
    outcome.has_task = True
    if not isinstance(changes, dict):
        outcome.task_errors = {"task": ["must be a JSON object"]}
        return outcome
    try:
        cleaned = task_validate(flow=flow, data=dict(changes), task=task, partial=True, source="action")
    except TaskValidationError as exc:
        outcome.task_errors = exc.errors
        return outcome
    by_id = {str(f.pk): f for f in fields}
    after: dict[str, Any] = {}
    for fid, stored in cleaned.get("data", {}).items():
        if str(fid) in by_id:
            f = by_id[str(fid)]
            after[f.name] = field_to_json(f, stored)
    if "stage" in cleaned:
        after["Stage"] = cleaned["stage"].name
    if "assignee" in cleaned:
        after["Assigned To"] = cleaned["assignee"].email if cleaned["assignee"] else None
    if "tags" in cleaned:
        after["Tags"] = cleaned["tags"]
    for name, new in after.items():
        old = task_json.get(name)
        if old == new:
            outcome.unchanged.append(name)
        else:
            outcome.changes.append((name, old, new))
    return outcome
