"""Writing a flow's design: several actions at once through the action services, as one version,
and putting an earlier version back.

Above both actions.services (which records a version for every single write) and actions.versions
(the snapshots), so neither has to import the other.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from django.db import transaction

from actions import services
from actions.models import Action, FlowVersion
from actions.versions import flow_version_get, flow_version_record
from flows.models import Flow, User
from flows.selectors import flow_can_edit
from flowsite.api import Forbidden, ServiceError


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
