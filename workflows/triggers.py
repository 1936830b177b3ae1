"""The trigger catalog (seed 003) and how a task event maps onto trigger types."""

from __future__ import annotations

from typing import Any

from flowsite.names import normalize_name

TRIGGERS: dict[str, tuple[str, ...]] = {
    "leads": (
        "lead_created",
        "lead_updated",
        "lead_stage_changed",
        "lead_score_changed",
        "lead_converted",
        "lead_assigned",
    ),
    "contacts": ("contact_created", "contact_updated", "contact_assigned"),
    "accounts": ("account_created", "account_updated", "account_assigned"),
    "opportunities": (
        "opportunity_created",
        "opportunity_updated",
        "opportunity_stage_changed",
        "opportunity_won",
        "opportunity_lost",
        "opportunity_assigned",
    ),
    "tasks": ("task_created", "task_updated", "task_overdue", "task_completed"),
    "projects": (
        "project_created",
        "project_updated",
        "project_status_changed",
        "project_task_overdue",
        "project_completed",
    ),
}
MODULES = tuple(TRIGGERS)
SINGULAR = {
    "leads": "lead",
    "contacts": "contact",
    "accounts": "account",
    "opportunities": "opportunity",
    "tasks": "task",
    "projects": "project",
}
# Triggers fired by the periodic overdue job, not by a change.
PERIODIC = {"task_overdue", "project_task_overdue"}


def trigger_types_for_change(
    *, module: str, kind: str, changes: dict[str, Any], new_stage=None, score_field: str | None = "Score"
) -> list[str]:
    """Which of the module's triggers a task event fires. `new_stage` is the Stage the task is in
    after the event (for completed / won / lost / converted)."""
    if module not in TRIGGERS:
        return []
    noun = SINGULAR[module]
    fired: list[str] = []
    available = set(TRIGGERS[module])
    if kind == "created":
        fired.append(f"{noun}_created")
    elif kind == "updated":
        fired.append(f"{noun}_updated")
    else:
        return []
    stage_changed = "Stage" in changes or kind == "created"
    if "Stage" in changes:
        fired.append(f"{noun}_stage_changed")
        if module == "projects":
            fired.append("project_status_changed")
    assigned = changes.get("Assigned To")
    if assigned and assigned[1]:
        fired.append(f"{noun}_assigned")
    if module == "leads" and any(normalize_name(name) == "score" for name in changes):
        fired.append("lead_score_changed")
    if stage_changed and new_stage is not None and ("Stage" in changes):
        if new_stage.end_stage:
            fired.append(f"{noun}_completed")
        if new_stage.outcome == "won":
            fired.append(f"{noun}_won")
        elif new_stage.outcome == "lost":
            fired.append(f"{noun}_lost")
        elif new_stage.outcome == "converted":
            fired.append(f"{noun}_converted")
    return [t for t in dict.fromkeys(fired) if t in available]
