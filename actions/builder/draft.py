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
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import transaction
from django.http import Http404

from actions.design import DesignError, DesignItem, design_write
from actions.models import Action, BuilderDraft
from actions.selectors import action_list
from actions.steps import http
from actions.steps.base import (
    StepConfigError,
    StepFailed,
    StepType,
    config_validate,
    get_step_type,
    stage_move_step,
    step_types,
)
from actions.steps.base import step_summary as summary_of
from actions.versions import flow_design_version
from flows.models import Flow, Stage, User
from flows.selectors import flow_can_edit
from flowsite.api import Forbidden, ServiceError
from flowsite.bounds import id_or_none
from tasks.models import Task
from tasks.schema import field_list, stage_create, stage_delete, stage_list, stage_update
from tasks.services import task_to_json, task_validate
from tasks.values import TaskValidationError, field_to_json

DEFAULT_COLOR = "#2563eb"
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
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
    _save(draft)
    return action


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


# --- step forms --------------------------------------------------------------------------------
# Each step type declares its form (form_template, form_initial, form_parse); a type without one
# gets a JSON editor, so a new step type works in the builder before it has a form.


def field_label(name: str) -> str:
    match = re.match(r"^headers\[(\d+)\](?:\.(name|value))?$", name)
    if match:
        return f"Header {int(match.group(1)) + 1}" + (f" {match.group(2)}" if match.group(2) else "")
    if name.startswith(("values.", "fields.")):
        return name.split(".", 1)[1]
    labels = {"url": "URL", "": "Step", "config": "Settings"}
    return labels.get(name, name.replace("_", " ").capitalize())


def step_label(type_name: str) -> str:
    try:
        return get_step_type(type_name).label
    except StepConfigError:
        return type_name


def step_summary(step: dict) -> str:
    return summary_of(step["type"], step["config"])


def step_public_config(step_type_name: str, config: dict) -> dict:
    try:
        return get_step_type(step_type_name).public_config(config)
    except StepConfigError:
        return config


def form_context(*, flow: Flow) -> dict:
    """What every step form may offer: stages, members, fields."""
    members = [m.user for m in flow.memberships.filter(disabled=False).select_related("user").order_by("user__email")]
    return {"stages": stage_list(flow=flow), "members": members, "fields": field_list(flow=flow)}


def action_step_types() -> list:
    return step_types(context="action")


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
    values = []
    for f in fields:
        value = field_to_json(f, (task.data or {}).get(str(f.pk)))
        if isinstance(value, str) and value:
            values.append(value)
        if len(values) == 2:
            break
    return f"#{task.pk} · {task.stage.name}" + (f" · {' · '.join(values)}" if values else "")


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
    # The body the step itself sends (its own code, as a dry run).
    payload = step_type.trial_payload(action_name=action["name"], user=actor, task_json=task_json)
    outcome = TrialOutcome(task_label=label)
    try:
        response, request_record, secrets = http.signed_send(
            method=config.get("method", "POST"),
            url=config["url"],
            headers=config.get("headers", []),
            payload=payload,
            idempotency_key=f"test-{uuid.uuid4().hex}",
            signing_secret=flow.signing_secret,
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


# --- the canvas ----------------------------------------------------------------------------------
# Stages sit in one row; each action is a connector in a lane below the row (moves forward) or
# above it (moves back), from the stages it starts from to the stage it moves tasks to, with its
# name as a pill on the lane. Lanes are packed so no two pills or lines of one lane overlap, and
# each connector leaves and enters a box at its own port, nested so connectors do not cross.
# Actions that move nowhere are chips inside the boxes of the stages they start from.

STAGE_W = 172
ANY_W = 132
GAP = 96
PAD_X = 28
PAD_Y = 24
BOX_BASE_H = 62
CHIP_H = 26
LANE_GAP = 34
LANE_H = 36
PILL_H = 24
PILL_MIN = 64
PILL_MAX = 190
CHAR_W = 8.0


def _pill_width(name: str) -> int:
    return int(max(PILL_MIN, min(PILL_MAX, len(name) * CHAR_W + 34)))


def _place_pill(default: float, width: float, lo: float, hi: float, blocked: list[float]) -> float:
    """The centre nearest `default`, within [lo, hi], where the pill covers no x in `blocked`."""
    half = width / 2 + 4
    if hi - lo < width:
        return default

    def clear(center: float) -> bool:
        return not any(center - half < x < center + half for x in blocked)

    if clear(default):
        return default
    edges = [lo] + [x for x in blocked if lo < x < hi] + [hi]
    best = None
    for a, b in zip(edges, edges[1:], strict=False):
        if b - a < 2 * half:
            continue
        center = min(max(default, a + half), b - half)
        if best is None or abs(center - default) < abs(best - default):
            best = center
    return best if best is not None else default


def action_target(action: dict, stages_by_name: dict[str, Stage]) -> Stage | None:
    """The stage an action moves tasks to: that of its first step that moves the task."""
    for step in action["steps"]:
        try:
            name = get_step_type(step["type"]).target_stage(step.get("config") or {})
        except StepConfigError:
            continue
        if name is not None:
            return stages_by_name.get(name.lower())
    return None


def canvas_layout(*, stages: list[Stage], actions: list[dict], task_counts: dict[int, int] | None = None) -> dict:
    stages_by_name = {s.name.lower(): s for s in stages}
    stage_ids = {s.pk for s in stages}
    columns: list[dict] = []
    any_needed = any(not [pk for pk in a["from_stages"] if pk in stage_ids] for a in actions)
    x = PAD_X
    if any_needed:
        columns.append({"id": "any", "stage": None, "x": x, "w": ANY_W, "chips": []})
        x += ANY_W + GAP
    for stage in stages:
        count = (task_counts or {}).get(stage.pk, 0)
        columns.append({"id": stage.pk, "stage": stage, "x": x, "w": STAGE_W, "chips": [], "tasks": count})
        x += STAGE_W + GAP
    width = x - GAP + PAD_X
    stage_columns = [c for c in columns if c["stage"] is not None]
    for index, c in enumerate(stage_columns):
        c["first"], c["last"] = index == 0, index == len(stage_columns) - 1
    col_index = {c["id"]: i for i, c in enumerate(columns)}
    for c in columns:
        c["cx"] = c["x"] + c["w"] / 2

    connectors = []
    for action in actions:
        sources = [pk for pk in action["from_stages"] if pk in stage_ids] or ["any"]
        target = action_target(action, stages_by_name)
        moving = [s for s in sources if target is None or s != target.pk]
        if target is None or not moving:
            for source in sources if target is None else [target.pk]:
                columns[col_index[source]]["chips"].append({"action": action, "loop": target is not None})
            continue
        t_col = col_index[target.pk]
        s_cols = sorted(col_index[s] for s in moving)
        side = "above" if all(s > t_col for s in s_cols) else "below"
        connectors.append({"action": action, "sources": s_cols, "target": t_col, "side": side})

    # Lanes: shortest spans nearest the row, so longer connectors wrap around shorter ones.
    lanes: dict[str, list[list[tuple[float, float]]]] = {"above": [], "below": []}
    for conn in sorted(
        connectors,
        key=lambda c: (
            max(c["sources"] + [c["target"]]) - min(c["sources"] + [c["target"]]),
            min(c["sources"] + [c["target"]]),
        ),
    ):
        t_cx = columns[conn["target"]]["cx"]
        nearest = min(conn["sources"], key=lambda s: abs(columns[s]["cx"] - t_cx))
        n_cx = columns[nearest]["cx"]
        width_pill = _pill_width(conn["action"]["name"])
        pill_cx = (t_cx + n_cx) / 2
        xs = [columns[s]["cx"] for s in conn["sources"]] + [t_cx]
        lo = min(min(xs) - STAGE_W / 2, pill_cx - width_pill / 2) - 6
        hi = max(max(xs) + STAGE_W / 2, pill_cx + width_pill / 2) + 6
        side_lanes = lanes[conn["side"]]
        for index, lane in enumerate(side_lanes):
            if all(hi <= a or lo >= b for a, b in lane):
                lane.append((lo, hi))
                conn["lane"] = index
                break
        else:
            side_lanes.append([(lo, hi)])
            conn["lane"] = len(side_lanes) - 1
        conn["pill_cx"], conn["pill_w"] = pill_cx, width_pill

    n_above, n_below = len(lanes["above"]), len(lanes["below"])
    max_chips = max((len(c["chips"]) for c in columns), default=0)
    box_h = BOX_BASE_H + max_chips * CHIP_H
    row_top = PAD_Y + (LANE_GAP + (n_above - 1) * LANE_H + PILL_H if n_above else 0)
    row_bottom = row_top + box_h
    height = row_bottom + (LANE_GAP + (n_below - 1) * LANE_H + PILL_H if n_below else 0) + PAD_Y

    def lane_y(conn: dict) -> float:
        if conn["side"] == "below":
            return row_bottom + LANE_GAP + conn["lane"] * LANE_H
        return row_top - LANE_GAP - conn["lane"] * LANE_H

    # Ports: where each connector meets a box edge. Connectors whose far end is to the left use
    # the left half, the others the right half; deeper lanes sit nearer the middle (no crossings).
    ports: dict[tuple[int, str], list[tuple[dict, str, int]]] = {}
    for conn in connectors:
        t_cx = columns[conn["target"]]["cx"]
        for s in conn["sources"]:
            ports.setdefault((s, conn["side"]), []).append((conn, f"s{s}", -1 if t_cx < columns[s]["cx"] else 1))
        first = min(conn["sources"], key=lambda s: abs(columns[s]["cx"] - t_cx))
        ports.setdefault((conn["target"], conn["side"]), []).append(
            (conn, "t", -1 if columns[first]["cx"] < t_cx else 1)
        )
    for (col, _side), entries in ports.items():
        cx, half = columns[col]["cx"], columns[col]["w"] / 2 - 12
        for direction in (-1, 1):
            group = sorted((e for e in entries if e[2] == direction), key=lambda e: -e[0]["lane"])
            step = min(12.0, (half - 8) / max(len(group), 1))
            for i, (conn, role, _) in enumerate(group):
                conn.setdefault("ports", {})[role] = cx + direction * (8 + i * step)

    # A pill slides along its lane to where no deeper connector's vertical line passes behind it.
    for conn in connectors:
        blocked = sorted(
            x
            for other in connectors
            if other["side"] == conn["side"] and other["lane"] > conn["lane"]
            for x in other["ports"].values()
        )
        xs = list(conn["ports"].values())
        conn["pill_cx"] = _place_pill(conn["pill_cx"], conn["pill_w"], min(xs), max(xs), blocked)

    drawn = []
    for conn in connectors:
        y = lane_y(conn)
        edge = row_bottom if conn["side"] == "below" else row_top
        sign = 1 if conn["side"] == "below" else -1
        tx = conn["ports"]["t"]
        paths = []
        for s in conn["sources"]:
            sx = conn["ports"][f"s{s}"]
            r = min(8.0, abs(tx - sx) / 2)
            dx = 1 if tx > sx else -1
            paths.append(
                f"M{sx:.1f},{edge:.1f} V{y - sign * r:.1f} Q{sx:.1f},{y:.1f} {sx + dx * r:.1f},{y:.1f} "
                f"H{tx - dx * r:.1f} Q{tx:.1f},{y:.1f} {tx:.1f},{y - sign * r:.1f} V{edge + sign * 7:.1f}"
            )
        arrow = f"M{tx:.1f},{edge:.1f} L{tx - 5:.1f},{edge + sign * 8:.1f} L{tx + 5:.1f},{edge + sign * 8:.1f} Z"
        drawn.append(
            {
                "action": conn["action"],
                "paths": paths,
                "arrow": arrow,
                "pill_x": round(conn["pill_cx"] - conn["pill_w"] / 2, 1),
                "pill_y": round(y - PILL_H / 2, 1),
                "pill_w": conn["pill_w"],
                "side": conn["side"],
                "lane": conn["lane"],
            }
        )
    return {
        "width": int(width),
        "height": int(height),
        "row_top": row_top,
        "box_h": box_h,
        "columns": columns,
        "connectors": drawn,
        "pill_h": PILL_H,
    }
