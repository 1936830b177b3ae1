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
# What a trigger type means, as a sentence: "lead_created" reads "When a lead is created".
_EVENT_WORDS = {
    "created": "is created",
    "updated": "is updated",
    "stage_changed": "changes stage",
    "score_changed": "score changes",
    "converted": "is converted",
    "assigned": "is assigned",
    "won": "is won",
    "lost": "is lost",
    "overdue": "becomes overdue",
    "completed": "is completed",
    "status_changed": "changes status",
}


def trigger_label(trigger_type: str) -> str:
    """ "lead_created" -> "When a lead is created"; an unknown code is returned as it is."""
    for noun in sorted(set(SINGULAR.values()) | {"project_task"}, key=len, reverse=True):
        prefix = f"{noun}_"
        if str(trigger_type).startswith(prefix) and trigger_type[len(prefix) :] in _EVENT_WORDS:
            words = _EVENT_WORDS[trigger_type[len(prefix) :]]
            thing = noun.replace("_", " ")
            if words == "score changes":
                return f"When a {thing}'s score changes"
            article = "an" if thing[0] in "aeiou" else "a"
            return f"When {article} {thing} {words}"
    return str(trigger_type)


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
