"""The workflow editor's form: the in-progress workflow lives in the form itself.

Every input is named by the path the Workflows API uses for the same value ("name",
"triggerFilters.conditions[1].conditions[0].field", "actions[2].config.url"), so the editor can
post the whole form back at any time (to add a condition, move an action, save) without losing
what the person typed, and an error key from the services names the input it belongs to.

Three shapes, one module:

* the *state* is what the form holds: the API's tree, but with text where people type text
  (a JSON body, comma-separated tags, field/value rows as a list);
* the *payload* is the API's camelCase dict that workflow_create / workflow_update validate;
* the *view* is the state annotated for the template: each node's path, choices and errors.

An action's config is one step type's form (actions.step_forms, shared with the Flow Builder):
its partial's inputs are named with the action's path as their prefix.
"""

from __future__ import annotations

import re
from typing import Any

from actions import step_forms
from actions.step_forms import FormOptions, form_of, listify, text
from actions.steps.base import StepConfigError, get_step_type, step_types
from flows.models import Flow, Organization, Stage
from workflows.conditions import LIST_OPERATORS, NO_VALUE_OPERATORS, OPERATORS
from workflows.modules import module_flow
from workflows.selectors import workflow_field_types
from workflows.triggers import TRIGGERS

ROOTS = {"name", "description", "triggerModule", "triggerType", "flowId", "isActive", "triggerFilters", "actions"}
BUILTIN_FIELDS = ("Stage", "Assigned To", "Tags")
WAIT_UNITS = ("seconds", "minutes", "hours", "days")
OPERATOR_LABELS = {op: op.replace("_", " ") for op in OPERATORS}


# --- form -> state ---------------------------------------------------------------------------------


def state_from_post(post) -> dict:
    """The editor state from the posted form (a QueryDict)."""
    return normalize_state(listify(step_forms.tree_from_post(post, ROOTS)))


def new_condition() -> dict:
    return {"field": "", "operator": "equals", "value": ""}


def new_group() -> dict:
    return {"logic": "AND", "conditions": [new_condition()]}


def _group_state(group: Any) -> dict:
    group = group if isinstance(group, dict) else {}
    items = group.get("conditions") if isinstance(group.get("conditions"), list) else []
    conditions = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if "logic" in item or "conditions" in item:
            conditions.append(_group_state(item))
        else:
            conditions.append(
                {
                    "field": text(item.get("field")),
                    "operator": text(item.get("operator")) or "equals",
                    "value": text(item.get("value")),
                }
            )
    logic = str(group.get("logic") or "AND").upper()
    return {"logic": logic, "conditions": conditions}


def _action_state(item: Any) -> dict:
    item = item if isinstance(item, dict) else {}
    action_type = text(item.get("actionType"))
    config = step_forms.posted_state(action_type, item.get("config"), nested=_posted_branch)
    state = {"actionType": action_type, "config": config}
    if item.get("id"):
        state["id"] = str(item["id"])
    return state


def _posted_branch(config: dict) -> None:
    config.update(_group_state(config))
    for label in ("then", "else"):
        config[label] = [_action_state(sub) for sub in config.get(label) or [] if isinstance(sub, dict)]


def _stored_branch(config: dict) -> None:
    config.update(_group_state(config))
    for label in ("then", "else"):
        config[label] = [_nested_state(sub) for sub in config.get(label) or [] if isinstance(sub, dict)]


def _new_branch(config: dict) -> None:
    config.update({"logic": "AND", "conditions": [new_condition()], "then": [], "else": []})


def normalize_state(tree: dict) -> dict:
    """Fill what an empty part of the form leaves out (no conditions, no actions, no rows)."""
    return {
        "name": text(tree.get("name")),
        "description": text(tree.get("description")),
        "triggerModule": text(tree.get("triggerModule")),
        "triggerType": text(tree.get("triggerType")),
        "flowId": text(tree.get("flowId")),
        "isActive": tree.get("isActive") is True,
        "triggerFilters": _group_state(tree.get("triggerFilters")),
        "actions": [_action_state(item) for item in tree.get("actions") or [] if isinstance(item, dict)],
    }


# --- API object -> state ---------------------------------------------------------------------------


def _config_state(action_type: str, config: dict) -> dict | str:
    return step_forms.config_state(action_type, config, nested=_stored_branch)


def _nested_state(item: dict) -> dict:
    action_type = item.get("actionType") or item.get("type") or ""
    state = {"actionType": action_type, "config": _config_state(action_type, item.get("config") or {})}
    if item.get("id"):
        # Posted back, so the action's masked secrets are matched to the stored action by it.
        state["id"] = str(item["id"])
    return state


def state_from_workflow(data: dict) -> dict:
    """The editor state from workflow_json (secrets already masked there)."""
    return {
        "name": data["name"],
        "description": data["description"],
        "triggerModule": data["triggerModule"],
        "triggerType": data["triggerType"],
        "flowId": text(data.get("flowId")),
        "isActive": data["isActive"],
        "triggerFilters": _group_state(data.get("triggerFilters")),
        "actions": [
            {
                "id": action["id"],
                "actionType": action["actionType"],
                "config": _config_state(action["actionType"], action["config"]),
            }
            for action in data["actions"]
        ],
    }


def blank_state(module: str = "leads") -> dict:
    return {
        "name": "",
        "description": "",
        "triggerModule": module,
        "triggerType": TRIGGERS[module][0],
        "flowId": "",
        "isActive": True,
        "triggerFilters": {"logic": "AND", "conditions": []},
        "actions": [],
    }


# --- state -> payload ------------------------------------------------------------------------------


def _filter_payload(group: dict) -> dict:
    conditions = []
    for item in group["conditions"]:
        if "logic" in item:
            conditions.append(_filter_payload(item))
            continue
        operator = item["operator"]
        value: Any = item["value"]
        if operator in NO_VALUE_OPERATORS:
            value = None
        elif operator in LIST_OPERATORS:
            value = [part.strip() for part in value.split(",") if part.strip()]
        conditions.append({"field": item["field"], "operator": operator, "value": value})
    return {"logic": group["logic"], "conditions": conditions}


def _config_payload(action_type: str, config: Any, path: str, errors: dict) -> Any:
    return step_forms.config_payload(action_type, config, f"{path}.config", errors, nested=_branch_payload)


def _branch_payload(config: dict, where: str, errors: dict) -> None:
    config.update(_filter_payload(config))
    for label in ("then", "else"):
        config[label] = _actions_payload(config.get(label) or [], f"{where}.{label}", errors, top=False)


def _actions_payload(actions: list[dict], path: str, errors: dict, *, top: bool) -> list[dict]:
    out = []
    for index, action in enumerate(actions):
        item: dict[str, Any] = {
            "actionType": action["actionType"],
            "config": _config_payload(action["actionType"], action["config"], f"{path}[{index}]", errors),
        }
        # Nested (branch) actions carry their stable ids too: masked secrets are matched by them.
        if action.get("id"):
            item["id"] = action["id"]
        if top:
            item["sortOrder"] = index + 1
        out.append(item)
    return out


def payload_from_state(state: dict) -> tuple[dict, dict[str, list[str]]]:
    """The API payload for workflow_create / workflow_update, and errors found before it (bad JSON)."""
    errors: dict[str, list[str]] = {}
    payload = {
        "name": state["name"],
        "description": state["description"],
        "triggerModule": state["triggerModule"],
        "triggerType": state["triggerType"],
        "flowId": state["flowId"] or None,
        "isActive": state["isActive"],
        "triggerFilters": _filter_payload(state["triggerFilters"]),
        "actions": _actions_payload(state["actions"], "actions", errors, top=True),
    }
    return payload, errors


def action_to_try(state: dict, path: str, stored: dict[str, dict]) -> tuple[str, Any, dict | None, dict]:
    """The action at `path` ("actions[1]", "actions[0].config.then[2]") for "Send test request":
    its type, its config as the API takes it, its stored config (so a secret left masked is the
    stored one; `stored` maps saved action ids to configs), and errors found reading it."""
    action = _locate(state, path)
    if not isinstance(action, dict) or "actionType" not in action:
        return "", {}, None, {path: ["There is no action here to try."]}
    errors: dict[str, list[str]] = {}
    config = _config_payload(action["actionType"], action["config"], path, errors)
    tokens = step_forms.tokens(path) or []
    old: Any = None
    if len(tokens) >= 2 and tokens[0] == "actions" and isinstance(tokens[1], int):
        # Walk the state and the stored config side by side; a nested action is found in the stored
        # list by its id (as a save matches it), never by its place.
        node: Any = state["actions"][tokens[1]]
        old = {"config": stored.get(str(node.get("id", "")))}
        for token in tokens[2:]:
            try:
                node = node[token]
                if isinstance(token, int) and isinstance(old, list):
                    item_id = node.get("id") if isinstance(node, dict) else None
                    if any(isinstance(o, dict) and o.get("id") for o in old):
                        old = next((o for o in old if isinstance(o, dict) and item_id and o.get("id") == item_id), None)
                    else:  # stored before nested actions had ids (as workflows.steps.branch matches them)
                        old = old[token] if not item_id else None
                else:
                    old = old[token]
            except (KeyError, IndexError, TypeError, AttributeError):
                old = None
            if old is None:
                break
        old = old.get("config") if isinstance(old, dict) else None
    return action["actionType"], config, old, errors


# --- editing operations (buttons that post the form back) -------------------------------------------


def _locate(state: dict, path: str) -> Any:
    tokens = step_forms.tokens(path)
    if not tokens:
        return None
    node: Any = state
    for token in tokens:
        try:
            node = node[token]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _parent(state: dict, path: str) -> tuple[list | None, int]:
    match = re.fullmatch(r"(.+)\[(\d+)\]", path or "")
    if not match:
        return None, -1
    container = _locate(state, match.group(1))
    index = int(match.group(2))
    if not isinstance(container, list) or index >= len(container):
        return None, -1
    return container, index


def default_config(action_type: str) -> dict | str:
    return step_forms.default_state(action_type, nested=_new_branch)


def moved_to(op: str) -> str:
    """Where the item an up/down button moved is now, so its button keeps the keyboard focus."""
    name, _, path = op.partition(":")
    match = re.fullmatch(r"(.+)\[(\d+)\]", path)
    if name not in ("up", "down") or not match:
        return ""
    index = int(match.group(2)) + (-1 if name == "up" else 1)
    return f"{match.group(1)}[{max(index, 0)}]"


def apply_op(state: dict, op: str, post) -> str:
    """Change the state as a button asks ("add_condition:triggerFilters", "up:actions[2]", ...).
    Returns which part of the page changed: "trigger", "conditions" or "actions"."""
    name, _, path = op.partition(":")
    if name == "module":
        module = state["triggerModule"]
        if module in TRIGGERS and state["triggerType"] not in TRIGGERS[module]:
            state["triggerType"] = TRIGGERS[module][0]
        return "trigger"
    part = "conditions" if path.startswith("triggerFilters") else "actions"
    target = _locate(state, path)
    if name in ("add_condition", "add_group") and isinstance(target, dict) and "conditions" in target:
        target["conditions"].append(new_condition() if name == "add_condition" else new_group())
    elif name == "add_action" and isinstance(target, list):
        action_type = post.get(f"_new:{path}", "")
        try:
            get_step_type(action_type)
        except StepConfigError:
            return part
        target.append({"actionType": action_type, "config": default_config(action_type)})
    elif name in ("remove", "up", "down"):
        container, index = _parent(state, path)
        if container is not None:
            if name == "remove":
                del container[index]
            else:
                other = index - 1 if name == "up" else index + 1
                if 0 <= other < len(container):
                    container[index], container[other] = container[other], container[index]
    return part


# --- state -> view ---------------------------------------------------------------------------------


class Errors:
    """Error keys of the services mapped onto the nodes of the editor that own them."""

    def __init__(self, errors: dict[str, list[str]] | None):
        self.errors = dict(errors or {})
        self.owners: dict[str, tuple[dict, str]] = {}

    def own(self, path: str, node: dict, kind: str) -> None:
        node["e"] = {}
        self.owners[path] = (node, kind)

    def assign(self, page: dict) -> None:
        for key, messages in self.errors.items():
            owner, kind, rest = page, "page", key
            for path in sorted(self.owners, key=len, reverse=True):
                if key == path or key.startswith(path + "."):
                    (owner, kind), rest = self.owners[path], key[len(path) + 1 :]
                    break
            if kind == "action" and rest.startswith("config."):
                rest = rest[len("config.") :]
            head = re.split(r"[.\[]", rest, maxsplit=1)[0] if rest else "self"
            if kind == "action" and head in ("field", "value"):
                head = "fields"
            detail = rest[len(head) :].lstrip(".") if head != "self" else ""
            text = [f"{detail}: {m}" if detail and kind == "action" else m for m in messages]
            owner["e"].setdefault(head, []).extend(text)


def where(key: str) -> str:
    """A person's words for an error key: "actions[1].config.then[0].config.url" -> "Action 2 › then 1 › url"."""
    words = {
        "triggerFilters": "Filters",
        "actions": "Action",
        "conditions": "condition",
        "then": "then",
        "else": "else",
    }
    parts = []
    for token in key.split("."):
        match = re.fullmatch(r"(\w+)\[(\d+)\]", token)
        if match:
            parts.append(f"{words.get(match.group(1), match.group(1))} {int(match.group(2)) + 1}")
        elif token != "config":
            parts.append(words.get(token, token))
    if parts:
        parts[0] = parts[0][:1].upper() + parts[0][1:]  # "Name", not "name", at the start of the line
    return " › ".join(parts) or "Workflow"


class EditorView:
    """Builds the template's view of the state: nodes with paths, choices and errors."""

    def __init__(
        self,
        *,
        organization: Organization,
        state: dict,
        errors: dict | None = None,
        op: str = "",
        trials: dict[str, dict] | None = None,
    ):
        self.organization = organization
        # "Send test request" outcomes by the path of the action tried.
        self.trials = trials or {}
        self.focus_path, self.focus_op = moved_to(op), op.partition(":")[0]
        self.state = state
        self.errors = Errors(errors)
        module = state["triggerModule"] if state["triggerModule"] in TRIGGERS else "leads"
        self.module = module
        self.flows = list(Flow.objects.filter(organization=organization, module=module).order_by("name", "id"))
        # Events of a flow without a module match no trigger, so the editor names those flows.
        self.flows_without_module = list(
            Flow.objects.filter(organization=organization, module="", disabled=False).order_by("name", "id")
        )
        flow = next((f for f in self.flows if str(f.pk) == state["flowId"]), None)
        self.flow = flow
        field_types = workflow_field_types(organization=organization, module=module, flow=flow)
        self.field_names = list(dict.fromkeys([*field_types, *BUILTIN_FIELDS]))
        self.types = sorted(step_types(context="workflow"), key=lambda t: (t.form is None, t.label))
        self.labels = {t.type: t.label for t in self.types}
        self._targets: dict[str, dict] = {}
        # What the step forms offer: the stages of the flow (or of the module's flows), its fields,
        # the organization's people, and the flow a create_* action writes to.
        stages = Stage.objects.filter(flow__in=[flow] if flow else self.flows).order_by("flow_id", "position")
        self.options = FormOptions(
            stages=list(dict.fromkeys(stages.values_list("name", flat=True))),
            fields=list(field_types),
            people=[
                {"id": user.pk, "label": user.get_full_name() or user.email, "email": user.email}
                for user in organization.members.order_by("first_name", "email")
            ],
            target=self.target,
            field_types=field_types,
        )

    @staticmethod
    def tryable(action_type: str) -> bool:
        try:
            return get_step_type(action_type).tryable
        except StepConfigError:
            return False

    def target(self, module: str) -> dict:
        """Stage and field names of the flow a create_* action writes to, for suggestions."""
        if module not in self._targets:
            flow = module_flow(organization=self.organization, module=module)
            self._targets[module] = {
                "stages": list(flow.stages.order_by("position").values_list("name", flat=True)) if flow else [],
                "fields": list(flow.fields.order_by("position").values_list("name", flat=True)) if flow else [],
            }
        return self._targets[module]

    def group(self, group: dict, path: str, depth: int = 1, owner: dict | None = None) -> dict:
        node = {"kind": "group", "path": path, "logic": group["logic"], "depth": depth, "items": []}
        if owner is None:
            self.errors.own(path, node, "group")
        else:
            node["e"] = owner["e"]  # a branch's conditions: its errors are the branch's
        prefix = f"{path}.conditions" if path else "conditions"
        for index, item in enumerate(group["conditions"]):
            item_path = f"{prefix}[{index}]"
            if "logic" in item:
                node["items"].append(self.group(item, item_path, depth + 1))
            else:
                cond = {
                    "kind": "condition",
                    "path": item_path,
                    **item,
                    "known": item["field"] in self.field_names or not item["field"],
                }
                self.errors.own(item_path, cond, "condition")
                node["items"].append(cond)
        node["can_nest"] = depth < 5
        return node

    def actions(self, actions: list[dict], path: str) -> list[dict]:
        nodes = []
        for index, action in enumerate(actions):
            item_path = f"{path}[{index}]"
            action_type = action["actionType"]
            config = action["config"]
            form = form_of(action_type) if isinstance(config, dict) else None
            node: dict[str, Any] = {
                "path": item_path,
                "id": action.get("id", ""),
                "type": action_type,
                "label": self.labels.get(action_type, action_type),
                "config": config,
                "index": index,
                "number": index + 1,
                "first": index == 0,
                "last": index == len(actions) - 1,
            }
            self.errors.own(item_path, node, "action")
            node["tryable"] = self.tryable(action_type)
            node["trial"] = self.trials.get(item_path)
            if item_path == self.focus_path:
                # Keep focus on the moved item's button; at either end only the other one works.
                node["focus"] = "down" if node["first"] else "up" if node["last"] else self.focus_op
            # The type's one partial (the Flow Builder's too), its inputs named by the action's path.
            node["form"] = step_forms.form_view(
                action_type, config, prefix=f"{item_path}.config.", options=self.options, errors=node["e"]
            )
            for row in node["form"].get("headers", []):
                self.errors.own(row["path"], row, "row")
            if form is not None and form.nested:
                node["group"] = self.group(config, f"{item_path}.config", owner=node)
                node["then"] = self.actions(config["then"], f"{item_path}.config.then")
                node["else"] = self.actions(config["else"], f"{item_path}.config.else")
            nodes.append(node)
        return nodes

    def context(self) -> dict:
        state = self.state
        page: dict = {"e": {}}
        filters = self.group(state["triggerFilters"], "triggerFilters")
        actions = self.actions(state["actions"], "actions")
        self.errors.assign(page)
        summary = [(where(key), message) for key, messages in self.errors.errors.items() for message in messages]
        return {
            "state": state,
            "e": page["e"],
            "errors_summary": summary,
            "modules": list(TRIGGERS),
            "trigger_types": TRIGGERS.get(self.module, ()),
            "module": self.module,
            "flows": self.flows,
            "flows_without_module": self.flows_without_module,
            "field_names": self.field_names,
            "operators": [(op, OPERATOR_LABELS[op]) for op in OPERATORS],
            "no_value_operators": sorted(NO_VALUE_OPERATORS),
            "filters": filters,
            "actions": actions,
            "action_types": self.types,
            "wait_units": WAIT_UNITS,
        }
