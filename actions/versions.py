"""Versions of a flow's design: every write of its actions (builder Save, API, restore) records a
numbered snapshot of the stages and the actions with their steps, so a run can say which design it
ran and an earlier design can be put back.

Snapshots keep step configs exactly as stored, so secret header values stay encrypted; whatever
shows a snapshot to a person masks them through the step type's `public_config`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import Http404

from actions.models import Action, FlowVersion, Step
from flows.models import Flow, Stage, User
from flows.selectors import flow_can_edit
from flowsite.api import Forbidden, ServiceError
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


class DesignError(ServiceError):
    """Some actions of a design write were refused; nothing was written.

    `by_action` maps the caller's reference of each refused action to its errors, keyed as the
    action API keys them ("name", "steps[1].config.url", ...)."""

    def __init__(self, by_action: dict[str, dict[str, list[str]]], names: dict[str, str]):
        self.by_action = by_action
        flat = {
            f"{names.get(ref) or ref}: {key}": reasons
            for ref, errors in by_action.items()
            for key, reasons in errors.items()
        }
        super().__init__(flat)


@dataclass
class DesignItem:
    """One action of a design write: `ref` is the caller's name for it, `id` the saved action (None
    for a new one), `data` what the action API takes, or `delete`."""

    ref: str
    id: int | None
    data: dict = field(default_factory=dict)
    delete: bool = False
    # Where the action goes among the flow's actions; None keeps its place (new ones go last).
    position: int | None = None


def design_write(
    *, flow: Flow, actor: User, items: list[DesignItem], summary: str, source: str
) -> tuple[FlowVersion, dict[str, int]]:
    """Write several actions at once through the action services, all or nothing, as one version.

    Returns the version and the ids of the written actions by ref. Raises DesignError naming every
    refused action (the services validate each exactly as the API does)."""
    from actions import services

    if not flow_can_edit(flow=flow, user=actor):
        raise Forbidden("Only organization admins and the people they allow can change this flow's design.")
    errors: dict[str, dict[str, list[str]]] = {}
    names = {item.ref: str(item.data.get("name") or "") for item in items}
    ids: dict[str, int] = {}
    with transaction.atomic():
        Flow.objects.select_for_update().filter(pk=flow.pk).values_list("pk", flat=True).first()
        existing = {a.pk: a for a in Action.objects.filter(flow=flow)}
        for item in items:
            if item.delete and item.id in existing:
                names[item.ref] = existing[item.id].name
                services.action_delete(action=existing.pop(item.id), actor=actor, record_version=False)
        writes = [item for item in items if not item.delete]
        # Renames may swap names between actions (A→B, B→A); park the renamed ones under names
        # nobody would choose first, so each name check sees only the final names. The transaction
        # hides the parking from everyone else.
        for item in writes:
            action = existing.get(item.id) if item.id is not None else None
            new_name = item.data.get("name")
            if action is not None and isinstance(new_name, str) and new_name.strip().lower() != action.name.lower():
                Action.objects.filter(pk=action.pk).update(name=f"(renaming {secrets.token_hex(8)})")
        for item in writes:
            try:
                with transaction.atomic():
                    if item.id is None:
                        ids[item.ref] = services.action_create(
                            flow=flow, actor=actor, data=item.data, record_version=False
                        ).pk
                    elif item.id in existing:
                        action = Action.objects.get(pk=item.id)
                        services.action_update(action=action, actor=actor, data=item.data, record_version=False)
                        ids[item.ref] = action.pk
                    else:
                        errors[item.ref] = {
                            "non_field_errors": ["This action was deleted by someone else; discard it or save it anew."]
                        }
            except ServiceError as exc:
                errors[item.ref] = exc.errors
        if errors:
            transaction.set_rollback(True)
        else:
            for item in writes:
                if item.position is not None:
                    Action.objects.filter(pk=ids[item.ref]).update(position=item.position)
            version = flow_version_record(flow=flow, actor=actor, summary=summary, source=source)
    if errors:
        raise DesignError(errors, names)
    return version, ids


def flow_version_restore(*, flow: Flow, actor: User, number) -> FlowVersion:
    """Put an earlier design's actions and steps back, through the action services, as a new version.

    Stages are not restored (they hold tasks): a snapshot naming a stage that is gone is refused
    with the services' own error, and nothing changes."""
    if not flow_can_edit(flow=flow, user=actor):
        raise Forbidden("Only organization admins and the people they allow can change this flow's design.")
    version = flow_version_get(flow=flow, number=number)
    current = {a.pk: a for a in Action.objects.filter(flow=flow).prefetch_related("steps")}
    by_name = {a.name.lower(): a for a in current.values()}
    matched: set[int] = set()
    items: list[DesignItem] = []
    for index, snap in enumerate(version.snapshot.get("actions", [])):
        target = current.get(snap.get("id")) or by_name.get(str(snap.get("name", "")).lower())
        if target is not None and target.pk in matched:
            target = None
        step_ids = {s.pk for s in target.steps.all()} if target is not None else set()
        data = {
            "name": snap["name"],
            "color": snap.get("color", "#2563eb"),
            "navigate": snap.get("navigate", Action.Navigate.STAY),
            "from_stages": list(snap.get("from_stages", [])),
            "steps": [
                {
                    "id": step.get("id") if step.get("id") in step_ids else None,
                    "type": step["type"],
                    "config": step.get("config") or {},
                }
                for step in snap.get("steps", [])
            ],
        }
        if target is not None:
            matched.add(target.pk)
        items.append(DesignItem(ref=f"v{index}", id=target.pk if target else None, data=data, position=index))
    for action in current.values():
        if action.pk not in matched:
            items.insert(0, DesignItem(ref=f"d{action.pk}", id=action.pk, delete=True))
    written, _ = design_write(
        flow=flow,
        actor=actor,
        items=items,
        summary=f"Restored version {version.number}",
        source=FlowVersion.Source.RESTORE,
    )
    return written
