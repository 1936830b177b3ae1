"""The Flow Builder: a person's draft of the flow's actions, kept server-side, and saved all at once
through the action services (so it validates exactly as the API does) as one version of the design.

Stages are different: they hold tasks, so stage changes made in the builder write straight through
the schema services (tasks.schema) and say so in the page. A stage rename also renames the
references to it in the actions' steps, saved and drafted alike.

The draft (BuilderDraft.data) is plain JSON:

    {"version": <design version it started from>, "seq": <counter for new keys>, "selected": <key>,
     "actions": [{"key", "id", "name", "color", "navigate", "from_stages": [stage ids],
                  "steps": [{"key", "id", "type", "config"}]}],
     "deleted": [{"key", "id", "name"}],
     "base": {<key>: <the saved action as loaded, to tell what changed>},
     "errors": {<key>: {"action": {field: [reasons]}, "steps": {<step key>: [reasons]}}}}

Saved actions and steps have keys "a<id>" and "s<id>"; new ones "n<seq>" and "t<seq>". Step
configs in the draft are already validated by their step type and stored as the database stores
them, so a secret typed into the builder is encrypted before it is written anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import Http404

from actions.builder.forms import field_label
from actions.design import DesignError, DesignItem, design_write
from actions.models import Action, BuilderDraft
from actions.selectors import action_list
from actions.steps.base import (
    StepConfigError,
    config_validate,
    get_step_type,
    stage_move_step,
)
from actions.versions import flow_design_version
from flows.models import Flow, Stage, User
from flows.selectors import flow_can_edit
from flowsite.api import Forbidden, ServiceError
from flowsite.bounds import id_or_none
from tasks.schema import stage_create, stage_delete, stage_list, stage_update

DEFAULT_COLOR = "#2563eb"
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
ACTION_NAME_MAX = Action._meta.get_field("name").max_length
KEY_RE = re.compile(r"^[a-z][0-9]{1,18}$")
STEP_ERROR_RE = re.compile(r"^steps\[(\d+)\](?:\.(.*))?$")


def require_editor(*, flow: Flow, user: User) -> None:
    if not flow_can_edit(flow=flow, user=user):
        raise Forbidden("Only organization admins and the members they allow can edit this flow's design.")


# --- the draft ---------------------------------------------------------------------------------


def _action_to_draft(action: Action, stage_order: dict[int, int]) -> dict:
    from_stages = sorted((s.pk for s in action.from_stages.all()), key=lambda pk: stage_order.get(pk, 0))
    return {
        "key": f"a{action.pk}",
        "id": action.pk,
        "name": action.name,
        "color": action.color,
        "navigate": action.navigate,
        "from_stages": from_stages,
        "steps": [
            {"key": f"s{step.pk}", "id": step.pk, "type": step.type, "config": step.config}
            for step in action.steps.all()
        ],
    }


def _canonical(action: dict) -> dict:
    return {
        "name": action["name"],
        "color": action["color"],
        "navigate": action["navigate"],
        "from_stages": sorted(action["from_stages"]),
        "steps": [[step["id"], step["type"], step["config"]] for step in action["steps"]],
    }


def _fresh(flow: Flow, selected: str | None = None) -> dict:
    stage_order = {
        pk: index for index, pk in enumerate(flow.stages.order_by("position", "id").values_list("pk", flat=True))
    }
    actions = [_action_to_draft(a, stage_order) for a in action_list(flow=flow)]
    keys = {a["key"] for a in actions}
    return {
        "version": flow_design_version(flow),
        "seq": 0,
        "selected": selected if selected in keys else (actions[0]["key"] if actions else None),
        "actions": actions,
        "deleted": [],
        "base": {a["key"]: _canonical(a) for a in actions},
        "errors": {},
    }


def draft_get(*, flow: Flow, user: User, refresh: bool = False) -> BuilderDraft:
    """The person's draft. `refresh` (opening the builder) reloads a draft without unsaved changes
    from the database, so it never shows a stale design."""
    draft, created = BuilderDraft.objects.get_or_create(flow=flow, user=user, defaults={"data": {}})
    if created or "base" not in draft.data:
        draft.data = _fresh(flow)
        draft.save(update_fields=["data", "updated_at"])
    elif refresh and not draft_is_dirty(draft.data):
        draft.data = _fresh(flow, draft.data.get("selected"))
        draft.save(update_fields=["data", "updated_at"])
    return draft


def draft_lock(*, flow: Flow, user: User) -> BuilderDraft:
    """The draft, locked for a change (two tabs of one person never lose each other's edits)."""
    draft_get(flow=flow, user=user)
    return BuilderDraft.objects.select_for_update().get(flow=flow, user=user)


def _save(draft: BuilderDraft) -> None:
    draft.save(update_fields=["data", "updated_at"])


def changed_keys(data: dict) -> set[str]:
    base = data.get("base", {})
    return {a["key"] for a in data.get("actions", []) if a["key"] not in base or _canonical(a) != base[a["key"]]}


def draft_is_dirty(data: dict) -> bool:
    return bool(data.get("deleted")) or bool(changed_keys(data))


def draft_action(data: dict, key: str) -> dict:
    for action in data.get("actions", []):
        if action["key"] == key:
            return action
    raise Http404


def draft_step(action: dict, step_key: str) -> dict:
    for step in action["steps"]:
        if step["key"] == step_key:
            return step
    raise Http404


def _next_key(data: dict, prefix: str) -> str:
    data["seq"] = int(data.get("seq", 0)) + 1
    return f"{prefix}{data['seq']}"


def _touch(data: dict, key: str) -> None:
    """An edited action's old Save errors no longer apply."""
    data.setdefault("errors", {}).pop(key, None)


def _unique_name(data: dict, wanted: str) -> str:
    taken = {a["name"].strip().lower() for a in data["actions"]}
    name, number = wanted, 2
    while name.lower() in taken:
        name = f"{wanted} {number}"
        number += 1
    return name


def draft_select(draft: BuilderDraft, key: str) -> dict:
    action = draft_action(draft.data, key)
    draft.data["selected"] = key
    _save(draft)
    return action


def draft_action_new(draft: BuilderDraft, *, flow: Flow, from_stage: Stage | None, to_stage: Stage | None) -> dict:
    """A new action in the draft; dragged from one stage onto another, it moves tasks between them."""
    data = draft.data
    name = _unique_name(data, f"Move to {to_stage.name}" if to_stage is not None else "New action")
    action = {
        "key": _next_key(data, "n"),
        "id": None,
        "name": name,
        "color": DEFAULT_COLOR,
        "navigate": Action.Navigate.STAY,
        "from_stages": [from_stage.pk] if from_stage is not None else [],
        "steps": [],
    }
    move = stage_move_step(to_stage.name) if to_stage is not None else None
    if move is not None:
        action["steps"].append({"key": _next_key(data, "t"), "id": None, **move})
    data["actions"].append(action)
    data["selected"] = action["key"]
    _save(draft)
    return action


def draft_action_update(draft: BuilderDraft, key: str, *, flow: Flow, values: dict) -> dict:
    """Properties as the person typed them; Save validates them with everything else."""
    action = draft_action(draft.data, key)
    if "name" in values:
        action["name"] = str(values["name"])[:200]
    if "color" in values and COLOR_RE.match(str(values["color"])):
        action["color"] = str(values["color"]).lower()
    if values.get("navigate") in Action.Navigate.values:
        action["navigate"] = values["navigate"]
    if "from_stages" in values:
        valid = dict(flow.stages.values_list("pk", "position"))
        ids = []
        for raw in values["from_stages"]:
            pk = id_or_none(raw)
            if pk in valid and pk not in ids:
                ids.append(pk)
        action["from_stages"] = sorted(ids, key=lambda pk: valid[pk])
    _touch(draft.data, key)
    # The name is checked as it is typed, so the person sees the reason beside the input at once
    # rather than only when Save refuses; Save checks it again with everything else.
    problem = _name_problem(draft.data, action)
    if problem:
        draft.data["errors"][key] = {"action": {"name": [problem]}, "steps": {}}
    _save(draft)
    return action


def _name_problem(data: dict, action: dict) -> str:
    name = action["name"].strip()
    if not name:
        return "An action needs a name."
    if len(name) > ACTION_NAME_MAX:
        return f"At most {ACTION_NAME_MAX} characters."
    if any(a is not action and a["name"].strip().lower() == name.lower() for a in data["actions"]):
        return f'Another action is already called "{name}".'
    return ""


def draft_action_delete(draft: BuilderDraft, key: str) -> None:
    data = draft.data
    action = draft_action(data, key)
    data["actions"] = [a for a in data["actions"] if a["key"] != key]
    if action["id"] is not None:
        data.setdefault("deleted", []).append({"key": key, "id": action["id"], "name": action["name"]})
    _touch(data, key)
    if data.get("selected") == key:
        data["selected"] = data["actions"][0]["key"] if data["actions"] else None
    _save(draft)


def draft_step_apply(
    draft: BuilderDraft, key: str, *, flow: Flow, step_key: str | None, type_name: str, config: dict
) -> dict:
    """Validate one step with its type (as Save will) and put it in the draft. Raises StepConfigError."""
    action = draft_action(draft.data, key)
    step = draft_step(action, step_key) if step_key else None
    step_type = get_step_type(type_name)
    if "action" not in step_type.contexts:
        raise StepConfigError("type", f'"{type_name}" is a workflow action, not an action step')
    old = step["config"] if step is not None and step["type"] == step_type.type else None
    cleaned = config_validate(step_type, config, flow=flow, old=old)
    # Stored under the type's own name, never an alias.
    if step is None:
        step = {"key": _next_key(draft.data, "t"), "id": None, "type": step_type.type, "config": cleaned}
        action["steps"].append(step)
    else:
        step["type"], step["config"] = step_type.type, cleaned
    _touch(draft.data, key)
    _save(draft)
    return step


def draft_step_move(draft: BuilderDraft, key: str, step_key: str, *, to: int) -> None:
    action = draft_action(draft.data, key)
    step = draft_step(action, step_key)
    steps = [s for s in action["steps"] if s["key"] != step_key]
    steps.insert(max(0, min(to, len(steps))), step)
    action["steps"] = steps
    _touch(draft.data, key)
    _save(draft)


def draft_step_delete(draft: BuilderDraft, key: str, step_key: str) -> None:
    action = draft_action(draft.data, key)
    draft_step(action, step_key)
    action["steps"] = [s for s in action["steps"] if s["key"] != step_key]
    _touch(draft.data, key)
    _save(draft)


def draft_discard(draft: BuilderDraft, *, flow: Flow) -> None:
    draft.data = _fresh(flow, draft.data.get("selected"))
    _save(draft)


def _api_data(action: dict, stage_names: dict[int, str]) -> dict:
    """The draft action as the action API takes it."""
    return {
        "name": action["name"],
        "color": action["color"],
        "navigate": action["navigate"],
        "from_stages": [stage_names[pk] for pk in action["from_stages"] if pk in stage_names],
        "steps": [{"id": s["id"], "type": s["type"], "config": s["config"]} for s in action["steps"]],
    }


@dataclass
class SaveResult:
    version: Any = None
    nothing: bool = False
    errors: int = 0


def draft_save(draft: BuilderDraft, *, flow: Flow, actor: User) -> SaveResult:
    """Commit every changed action of the draft at once, through the action services, as one new
    version of the flow's design. On errors nothing is written and they are kept per action and step."""
    data = draft.data
    changed = changed_keys(data)
    deleted = data.get("deleted", [])
    if not changed and not deleted:
        draft_discard(draft, flow=flow)
        return SaveResult(nothing=True)
    stage_names = dict(flow.stages.values_list("pk", "name"))
    items = [DesignItem(ref=d["key"], id=d["id"], delete=True) for d in deleted]
    parts = []
    for action in data["actions"]:
        if action["key"] in changed:
            items.append(DesignItem(ref=action["key"], id=action["id"], data=_api_data(action, stage_names)))
            parts.append(("Added" if action["id"] is None else "Changed") + f' "{action["name"]}"')
    parts += [f'deleted "{d["name"]}"' for d in deleted]
    summary = "; ".join(parts)
    try:
        version, ids = design_write(flow=flow, actor=actor, items=items, summary=summary, source="builder")
    except DesignError as exc:
        data["errors"] = {ref: _map_errors(data, ref, errors) for ref, errors in exc.by_action.items()}
        first = next((a["key"] for a in data["actions"] if a["key"] in data["errors"]), None)
        if first is not None:
            data["selected"] = first
        _save(draft)
        return SaveResult(errors=len(exc.by_action))
    selected = data.get("selected")
    if selected in ids:
        selected = f"a{ids[selected]}"
    draft.data = _fresh(flow, selected)
    _save(draft)
    return SaveResult(version=version)


def _map_errors(data: dict, ref: str, errors: dict[str, list[str]]) -> dict:
    """ "steps[1].config.url" goes to that step (by its key), the rest to the action's properties."""
    out: dict[str, dict] = {"action": {}, "steps": {}}
    action = next((a for a in data["actions"] if a["key"] == ref), None)
    for key, reasons in errors.items():
        match = STEP_ERROR_RE.match(key)
        if match and action is not None and int(match.group(1)) < len(action["steps"]):
            step = action["steps"][int(match.group(1))]
            where = (match.group(2) or "").removeprefix("config.")
            text = [f"{field_label(where)}: {r}" if where else str(r) for r in reasons]
            out["steps"].setdefault(step["key"], []).extend(text)
        else:
            out["action"].setdefault(key, []).extend(str(r) for r in reasons)
    return out


# --- stages (written straight through tasks.schema) --------------------------------------------


def _names_stage(steps: list[dict], name: str) -> bool:
    return any(
        isinstance((s.get("config") or {}).get("stage"), str) and s["config"]["stage"].strip().lower() == name.lower()
        for s in steps
    )


def _rewrite_stage_refs(steps: list[dict], old: str, new: str) -> bool:
    """Step configs name stages under the key "stage" (move to stage, schedule a move)."""
    changed = False
    for step in steps:
        config = step.get("config") or {}
        if isinstance(config.get("stage"), str) and config["stage"].strip().lower() == old.lower():
            step["config"] = {**config, "stage": new}
            changed = True
    return changed


def _stage_users(flow: Flow, stage: Stage, data: dict) -> list[str]:
    """Actions (saved or drafted) that start from the stage or move tasks to it."""
    names: list[str] = []
    for action in action_list(flow=flow):
        uses_from = any(s.pk == stage.pk for s in action.from_stages.all())
        if uses_from or _names_stage([{"config": s.config} for s in action.steps.all()], stage.name):
            names.append(action.name)
    for action in data.get("actions", []):
        if stage.pk in action["from_stages"] or _names_stage(action["steps"], stage.name):
            if action["name"] not in names:
                names.append(action["name"])
    return names


def stage_add(*, flow: Flow, actor: User, name: str) -> Stage:
    return stage_create(actor=actor, flow=flow, data={"name": name})


def stage_rename(*, flow: Flow, actor: User, draft: BuilderDraft, stage: Stage, name: str) -> Stage:
    """Rename a stage and every step that names it: saved actions get a new version, the draft
    (and what it counts as saved) follows, so the rename alone never looks like an unsaved change."""
    old = stage.name
    with transaction.atomic():
        stage = stage_update(actor=actor, flow=flow, stage=stage, data={"name": name})
        if stage.name != old:
            items = []
            for action in action_list(flow=flow):
                steps = [{"id": s.pk, "type": s.type, "config": s.config} for s in action.steps.all()]
                if _rewrite_stage_refs(steps, old, stage.name):
                    items.append(DesignItem(ref=f"a{action.pk}", id=action.pk, data={"steps": steps}))
            if items:
                design_write(
                    flow=flow,
                    actor=actor,
                    items=items,
                    summary=f'Renamed stage "{old}" to "{stage.name}"',
                    source="builder",
                )
            for action in draft.data.get("actions", []):
                _rewrite_stage_refs(action["steps"], old, stage.name)
            for base in draft.data.get("base", {}).values():
                steps = [{"config": config} for _, _, config in base["steps"]]
                if _rewrite_stage_refs(steps, old, stage.name):
                    base["steps"] = [[sid, t, s["config"]] for (sid, t, _), s in zip(base["steps"], steps, strict=True)]
            _save(draft)
    return stage


def stage_move(*, flow: Flow, actor: User, stage: Stage, direction: str) -> Stage:
    stages = stage_list(flow=flow)
    index = next(i for i, s in enumerate(stages) if s.pk == stage.pk)
    target = index - 1 if direction == "left" else index + 1
    if not 0 <= target < len(stages):
        return stage
    return stage_update(actor=actor, flow=flow, stage=stage, data={"position": target})


def stage_remove(*, flow: Flow, actor: User, draft: BuilderDraft, stage: Stage, move_to: str | None) -> int:
    """Delete a stage (its tasks go to `move_to`). Refused while an action starts from it or moves
    tasks to it: an action without its stage would silently become available everywhere."""
    require_editor(flow=flow, user=actor)
    users = _stage_users(flow, stage, draft.data)
    if users:
        listed = ", ".join(f'"{n}"' for n in users[:5])
        raise ServiceError({"stage": [f'Actions use "{stage.name}": {listed}. Change them (and Save) first.']})
    return stage_delete(actor=actor, flow=flow, stage=stage, move_to=move_to or None, source="web")
