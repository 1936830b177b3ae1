"""One form per step type, shared by the Flow Builder's step modal and the workflow editor.

A step type declares its form once (`StepType.form`, a StepForm: its partial under templates/steps/
and which config keys are edited how). Both editors render that partial with inputs named by a
prefix plus the config path ("config.url" in the builder's modal, "actions[2].config.url" in the
workflow editor), and both read the posted inputs back with the code here:

* the *state* is what the form holds: the config with text where people type text (a JSON body,
  comma-separated tags, field/value rows as a list, header rows with their stable ids);
* the *config* is what the type's config serializer validates;
* the *view* is what the partial sees: prefix, state, errors per key, rows, stages, fields, people.

A name may end with ":bool" (hidden "0" plus a checkbox "1") or ":list" (a multiple select)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.text import slugify

from actions.steps.base import StepConfigError, StepForm, get_step_type
from actions.steps.http import METHODS
from flowsite import jsonsafe
from tasks.schema import field_list, stage_list

JSON_PARTIAL = "steps/_json.html"
TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
MAX_INDEX = 500  # a posted index beyond this is not from our form
MAX_TOKENS = 80
HEADER_KEYS = ("id", "name", "value", "secret")
ROW_KEYS = ("name", "value")

# A branch's conditions and nested actions, which only the workflow editor has (workflows.forms):
# (state) -> None, filling the nested parts of a branch's state in place.
NestedState = Callable[[dict], None]
# (config, where, errors) -> None, turning the nested parts into the API's shape in place.
NestedPayload = Callable[[dict, str, dict], None]


# --- posted names -> tree ---------------------------------------------------------------------------


def tokens(path: str) -> list[str | int] | None:
    """ "actions[2].config.url" -> ["actions", 2, "config", "url"]; None for a name not from our forms."""
    found: list[str | int] = []
    pos = 0
    for match in TOKEN.finditer(path):
        if match.start() != pos and path[pos : match.start()] != ".":
            return None
        pos = match.end()
        name, index = match.groups()
        if index is not None:
            if int(index) > MAX_INDEX:
                return None
            found.append(int(index))
        else:
            found.append(name)
    return found if found and pos == len(path) else None


def tree_from_post(post, roots: set[str]) -> dict:
    """The posted inputs whose path starts with one of `roots`, as a tree; lists are still dicts
    keyed by their posted index (listify makes them lists), so a row's posted index is known."""
    tree: dict = {}
    for key in post:
        path, _, marker = key.partition(":")
        found = tokens(path)
        # Deeper than any editor can nest (5 groups in 5 branches): not from our form, and it
        # must not make the recursion of listify run out of stack.
        if not found or found[0] not in roots or len(found) > MAX_TOKENS:
            continue
        if marker == "bool":
            value: Any = "1" in post.getlist(key)
        elif marker == "list":
            value = [int(v) if v.isdigit() else v for v in post.getlist(key) if v]
        else:
            value = post.get(key, "")
        node = tree
        for token in found[:-1]:
            child = node.get(token)
            if not isinstance(child, dict):
                child = node[token] = {}
            node = child
        node[found[-1]] = value
    return tree


def listify(node: Any) -> Any:
    """Dicts keyed by posted indexes become lists in index order (gaps left by removed rows close)."""
    if isinstance(node, dict):
        if node and all(isinstance(key, int) for key in node):
            return [listify(node[key]) for key in sorted(node)]
        return {key: listify(value) for key, value in node.items() if not isinstance(key, int)}
    return node


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(text(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _filled(row: dict, keys: tuple[str, ...]) -> bool:
    return any(row.get(key) for key in keys if key not in ("secret", "id"))


def rows(value: Any, keys: tuple[str, ...]) -> list[dict]:
    """Posted rows with something typed in (an empty row is left out)."""
    out = []
    for row in value if isinstance(value, list) else []:
        if isinstance(row, dict):
            row = {key: row.get(key, False if key == "secret" else "") for key in keys}
            if _filled(row, keys):
                out.append(row)
    return out


# --- the form's declaration ----------------------------------------------------------------------


def form_of(type_name: str) -> StepForm | None:
    """The type's form, or None (an unknown type, or one edited as JSON)."""
    try:
        return get_step_type(type_name).form
    except StepConfigError:
        return None


# --- config -> state -------------------------------------------------------------------------------


def config_state(type_name: str, config: dict, *, nested: NestedState | None = None) -> dict | str:
    """The form's state for a stored (public: secrets masked) config; JSON text for a type without a form."""
    form = form_of(type_name)
    if form is None:
        return json.dumps(config, indent=2)
    state = get_step_type(type_name).form_state(dict(config or {}))
    for key in form.rows:
        state[key] = [{"name": name, "value": text(value)} for name, value in (state.get(key) or {}).items()]
    for key in form.text + form.numbers:
        state[key] = text(state.get(key))
    for key in form.json:
        value = state.get(key)
        state[key] = "" if value is None else json.dumps(value, indent=2)
    for key in form.headers:
        state[key] = [
            {
                "id": h.get("id", ""),
                "name": h.get("name", ""),
                "value": h.get("value", ""),
                "secret": bool(h.get("secret")),
            }
            for h in state.get(key) or []
        ]
    if form.nested and nested is not None:
        nested(state)
    return state


def posted_state(type_name: str, config: Any, *, nested: NestedState | None = None) -> dict | str:
    """The form's state from its posted inputs (already listified)."""
    form = form_of(type_name)
    if form is None:
        return config if isinstance(config, str) else "{}"
    # A type with a form posted as anything but its inputs (a forged post) starts empty.
    state = dict(config) if isinstance(config, dict) else {}
    for key in form.rows:
        state[key] = rows(state.get(key), ROW_KEYS)
    for key in form.headers:
        state[key] = rows(state.get(key), HEADER_KEYS)
    if form.nested and nested is not None:
        nested(state)
    return state


def default_state(type_name: str, *, nested: NestedState | None = None) -> dict | str:
    """A new step's state."""
    form = form_of(type_name)
    if form is None:
        return "{}"
    state = json.loads(json.dumps(form.defaults))  # a copy the state may change
    for key in form.rows + form.headers:
        state[key] = []
    if form.nested and nested is not None:
        nested(state)
    return state


# --- state -> config -------------------------------------------------------------------------------


def _number(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value  # the config serializer names it


def config_payload(
    type_name: str,
    state: Any,
    where: str,
    errors: dict[str, list[str]],
    *,
    context: dict | None = None,
    nested: NestedPayload | None = None,
) -> Any:
    """The config the type's serializer validates, from the form's state. `where` is the config's
    own error key ("config", "actions[2].config"); what the form cannot read (bad JSON) is added
    to `errors` under it."""
    if isinstance(state, str):
        try:
            return jsonsafe.loads(state or "{}")
        except jsonsafe.UnsafeJSON as exc:
            errors[where] = [f"is not accepted: {exc}"]
        except ValueError as exc:
            errors[where] = [f"is not valid JSON ({exc.msg}, line {exc.lineno})"]
        return {}
    form = form_of(type_name)
    if form is None or not isinstance(state, dict):
        return {}
    out = dict(state)
    for key in form.rows:
        out[key] = {row["name"].strip(): row["value"] for row in out.get(key) or [] if row["name"].strip()}
    for key in form.headers:
        # Each row keeps its stable id: a masked secret is matched to its stored row by it.
        out[key] = [
            {
                **({"id": h["id"]} if h.get("id") else {}),
                "name": h["name"].strip(),
                "value": h["value"],
                "secret": bool(h["secret"]),
            }
            for h in out.get(key) or []
        ]
    for key in form.json:
        body = (out.pop(key, "") or "").strip()
        if body:
            try:
                out[key] = jsonsafe.loads(body)
            except jsonsafe.UnsafeJSON as exc:
                errors[f"{where}.{key}"] = [f"is not accepted: {exc}"]
            except ValueError as exc:
                errors[f"{where}.{key}"] = [f"is not valid JSON ({exc.msg}, line {exc.lineno})"]
    for key in form.numbers:
        number = str(out.pop(key, "") or "").strip()
        if number:
            out[key] = _number(number)
    if form.nested and nested is not None:
        nested(out, where, errors)
    for key in form.optional:
        if key in out and not str(out[key]).strip():
            del out[key]
    return get_step_type(type_name).form_payload(out, context or {})


# --- the builder's modal: one step's form -------------------------------------------------------------

PREFIX = "config."


def read_step_form(type_name: str, post, *, context: dict | None = None) -> Any:
    """The builder modal's posted config, or StepConfigError for what the form cannot read."""
    raw = tree_from_post(post, {"config"}).get("config", "")
    errors: dict[str, list[str]] = {}
    config = config_payload(type_name, posted_state(type_name, listify(raw)), "config", errors, context=context)
    if errors:
        key, messages = next(iter(errors.items()))
        raise StepConfigError(key[len(PREFIX) :] if key.startswith(PREFIX) else key, messages[0])
    return config


def step_inputs(type_name: str, post) -> Callable[[str], str]:
    """For the builder's modal: the input a config key's error belongs to ("headers[1].value" ->
    "config.headers[3].value": rows keep the index they were posted with)."""
    raw = tree_from_post(post, {"config"}).get("config", "")
    return lambda key: input_name(type_name, key, raw)


def input_name(type_name: str, key: str, raw: Any, prefix: str = PREFIX) -> str:
    """The input of the builder's modal an error of config key `key` points at."""
    form = form_of(type_name)
    if form is None or not isinstance(raw, dict):
        return prefix[:-1]  # the JSON editor
    head = re.split(r"[.\[]", key, maxsplit=1)[0]
    rest = key[len(head) :]
    # A key the form edits under another input (update_field's "value" is its rows' value).
    first = "value" if head == "value" else "name"
    mapped = head in form.inputs
    head = form.inputs.get(head, head)
    if head not in form.rows + form.headers:
        return prefix + head
    keys = HEADER_KEYS if head in form.headers else ROW_KEYS
    posted = raw.get(head) if isinstance(raw.get(head), dict) else {}
    numbers = [n for n in sorted(k for k in posted if isinstance(k, int)) if isinstance(posted[n], dict)]
    numbers = [n for n in numbers if _filled(posted[n], keys)]
    match = re.match(r"^\[(\d+)\](?:\.(\w+))?", rest)
    if match:
        index, part = int(match.group(1)), match.group(2)
        if index < len(numbers):
            return f"{prefix}{head}[{numbers[index]}].{part if part in ('name', 'value') else 'value'}"
    elif rest.startswith("."):  # "fields.Company Name": the row of that name
        name = rest[1:]
        for n in numbers:
            if str(posted[n].get("name", "")).strip() == name:
                return f"{prefix}{head}[{n}].{first if mapped else 'value'}"
    return f"{prefix}{head}[{numbers[0] if numbers else 0}].{first}"


# --- state -> what the partial sees ----------------------------------------------------------------


@dataclass
class FormOptions:
    """What the partials may offer: the flow's stage and field names and the people who may be
    chosen ({"id", "label", "email"}); `target` gives the stages and fields of the flow a create_*
    type writes to; `field_types` reads the values of update rows as their fields take them."""

    stages: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    people: list[dict] = field(default_factory=list)
    target: Callable[[str], dict] | None = None
    field_types: dict[str, str] = field(default_factory=dict)


def flow_options(*, flow) -> FormOptions:
    """The Flow Builder's choices: the flow's stages, editable fields and active members."""
    fields = field_list(flow=flow)
    members = flow.memberships.filter(disabled=False).select_related("user").order_by("user__email")
    return FormOptions(
        stages=[stage.name for stage in stage_list(flow=flow)],
        fields=[f.name for f in fields if f.editable],
        people=[
            {"id": m.user.pk, "label": m.user.get_full_name() or m.user.email, "email": m.user.email} for m in members
        ],
        field_types={f.name: f.type for f in fields},
    )


def form_view(type_name: str, state: Any, *, prefix: str, options: FormOptions, errors: dict | None = None) -> dict:
    """The partial's context `s`: the prefix of its inputs' names ("actions[2].config."), the state,
    its errors by config key, its rows and the choices it offers."""
    form = form_of(type_name) if isinstance(state, dict) else None
    view: dict[str, Any] = {
        "template": form.partial if form else JSON_PARTIAL,
        "p": prefix,
        "name": prefix[:-1],
        "c": state,
        "e": errors if errors is not None else {},
        "id": slugify(prefix) or "config",
        "methods": METHODS,
        "stages": options.stages,
        "fields": options.fields,
    }
    if form is None:
        return view
    if form.target_module and options.target is not None:
        target = options.target(form.target_module)
        view["stages"], view["fields"] = target["stages"], target["fields"]
    for key in form.rows:
        shown = state.get(key) or [{"name": "", "value": ""}]
        view["rows"] = [{"i": i, "path": f"{prefix}{key}[{i}]", **row} for i, row in enumerate(shown)]
        view["rows_key"] = key
    for key in form.headers:
        shown = state.get(key) or [{"id": "", "name": "", "value": "", "secret": False}]
        view["headers"] = [{"i": i, "path": f"{prefix}{key}[{i}]", "e": {}, **row} for i, row in enumerate(shown)]
    if form.people:
        chosen = {str(p).lower() for p in state.get("userIds") or []}
        picked = str(state.get("assignTo") or state.get("email") or "").lower()
        view["people"] = [
            {
                **person,
                "selected": str(person["id"]) in chosen or person["email"].lower() in chosen,
                "assigned": picked in (str(person["id"]), person["email"].lower()),
            }
            for person in options.people
        ]
    return view
