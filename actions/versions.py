"""Versions of a flow's design: every write of its actions (builder Save, API, restore) records a
numbered snapshot of the stages and the actions with their steps, so a run can say which design it
ran and an earlier design can be put back.

Snapshots keep step configs exactly as stored, so secret header values stay encrypted; whatever
shows a snapshot to a person masks them through the step type's `public_config`.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import Http404

from actions.models import Action, FlowVersion, Step
from flows.models import Flow, Stage, User
from flowsite.bounds import id_or_none

# --- reads -------------------------------------------------------------------------------------


def flow_snapshot(*, flow: Flow) -> dict[str, Any]:
    """The flow's design now: stages in order, actions in order with their steps (configs as stored)."""
    stages = list(Stage.objects.filter(flow=flow).order_by("position", "id"))
    order = {stage.pk: index for index, stage in enumerate(stages)}
    actions = []
    steps_in_order = Prefetch("steps", queryset=Step.objects.order_by("position", "id"))
    for action in (
        Action.objects.filter(flow=flow).prefetch_related("from_stages", steps_in_order).order_by("position", "id")
    ):
        from_stages = sorted(action.from_stages.all(), key=lambda s: order.get(s.pk, 0))
        steps = action.steps.all()
        actions.append(
            {
                "id": action.pk,
                "name": action.name,
                "color": action.color,
                "navigate": action.navigate,
                "position": action.position,
                "from_stages": [s.name for s in from_stages],
                "steps": [{"id": step.pk, "type": step.type, "config": step.config} for step in steps],
            }
        )
    return {
        "stages": [
            {
                "id": s.pk,
                "name": s.name,
                "color": s.color,
                "position": s.position,
                "end_stage": s.end_stage,
                "outcome": s.outcome,
            }
            for s in stages
        ],
        "actions": actions,
    }


def flow_design_version(flow: Flow) -> int:
    """The number of the flow's current design; 0 when none was ever recorded."""
    number = FlowVersion.objects.filter(flow=flow).order_by("-number").values_list("number", flat=True).first()
    return number or 0


def flow_version_list(*, flow: Flow) -> QuerySet[FlowVersion]:
    return FlowVersion.objects.filter(flow=flow).select_related("created_by").order_by("-number")


def flow_version_get(*, flow: Flow, number) -> FlowVersion:
    number = id_or_none(number)
    if number is None:
        raise Http404
    version = flow_version_list(flow=flow).filter(number=number).first()
    if version is None:
        raise Http404
    return version


def snapshot_changes(old: dict | None, new: dict) -> list[str]:
    """What changed between two snapshots, in words people read on the history page."""
    if old is None:
        names = [a["name"] for a in new.get("actions", [])]
        return [f"Actions: {', '.join(names)}" if names else "No actions"]
    out: list[str] = []
    old_stages = {s["id"]: s for s in old.get("stages", [])}
    new_stages = {s["id"]: s for s in new.get("stages", [])}
    for sid, stage in new_stages.items():
        if sid not in old_stages:
            out.append(f'Added stage "{stage["name"]}"')
        elif old_stages[sid]["name"] != stage["name"]:
            out.append(f'Renamed stage "{old_stages[sid]["name"]}" to "{stage["name"]}"')
    for sid, stage in old_stages.items():
        if sid not in new_stages:
            out.append(f'Removed stage "{stage["name"]}"')
    if [s["id"] for s in old.get("stages", []) if s["id"] in new_stages] != [
        s["id"] for s in new.get("stages", []) if s["id"] in old_stages
    ]:
        out.append("Reordered stages")
    old_actions = {a["id"]: a for a in old.get("actions", [])}
    new_actions = {a["id"]: a for a in new.get("actions", [])}
    labels = {"color": "colour", "navigate": "navigation", "from_stages": "available from", "steps": "steps"}
    for aid, action in new_actions.items():
        before = old_actions.get(aid)
        if before is None:
            out.append(f'Added action "{action["name"]}"')
            continue
        if before["name"] != action["name"]:
            out.append(f'Renamed action "{before["name"]}" to "{action["name"]}"')
        changed = [label for key, label in labels.items() if _comparable(before, key) != _comparable(action, key)]
        if changed:
            out.append(f'Changed "{action["name"]}": {", ".join(changed)}')
    for aid, action in old_actions.items():
        if aid not in new_actions:
            out.append(f'Deleted action "{action["name"]}"')
    return out or ["No changes to actions or stages"]


def _comparable(action: dict, key: str) -> Any:
    if key == "steps":
        return [(s["type"], s["config"]) for s in action.get("steps", [])]
    return action.get(key)


# --- writes ------------------------------------------------------------------------------------


def flow_version_record(*, flow: Flow, actor: User | None, summary: str, source: str) -> FlowVersion:
    """Record the flow's design now as its next version (call inside the transaction that changed it)."""
    with transaction.atomic():
        # Serialize numbering per flow; SQLite's IMMEDIATE transactions already do.
        Flow.objects.select_for_update().filter(pk=flow.pk).values_list("pk", flat=True).first()
        number = flow_design_version(flow) + 1
        return FlowVersion.objects.create(
            flow=flow,
            number=number,
            snapshot=flow_snapshot(flow=flow),
            summary=summary[:500],
            source=source,
            created_by=actor if actor is not None and actor.is_authenticated else None,
        )
