"""``{{trigger.fieldName}}`` placeholders in action configs (URLs, headers, bodies, messages).

Deliberately a plain lookup, not a template language: a placeholder names one value of the triggering
task and nothing else - no attribute access, filters, expressions or ``{% %}`` tags - so flow authors
(and the data in their tasks) cannot reach Python objects or execute anything.

* ``<name>`` starts with a letter and has letters, digits and underscores. It is looked up in order:
  the exact task key; the specials ``stage`` -> "Stage", ``assigned_to`` / ``assignedTo`` -> "Assigned To",
  ``url`` -> "Task URL", ``id`` -> ``extra["id"]``; then forgivingly (``match_name``) among ``extra`` and
  the task's keys, so ``companyName`` and ``company_name`` both read "Company Name".
* Anything that does not resolve stays literally in the text, so typos are visible in the result.
* Substitution is a single ``re.sub`` pass: inserted values are never scanned again, so a value that
  itself contains ``{{trigger.x}}`` is inserted verbatim.
* Values become text: lists joined with ", " (files by file name), bools "true"/"false", None "".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from flowsite.names import match_name, normalize_name

# The leading letter keeps dunder names like __class__ out, even though lookups are only dict reads.
# Field names as people write them may hold spaces, "?", "-" and "'" ("International?"), so those
# are allowed inside a name; dots, brackets and underscores at the start are not, so nothing here can
# reach attributes or indexes.
# `task.` reads the same as `trigger.`: actions speak of "the task", workflows of "the trigger".
PLACEHOLDER_RE = re.compile(r"\{\{\s*(?:trigger|task)\.([A-Za-z][A-Za-z0-9_ ?'\-]*?)\s*\}\}")

# normalized placeholder name -> task key of a built-in
SPECIAL_KEYS: dict[str, str] = {
    "stage": "Stage",
    "assignedto": "Assigned To",
    "url": "Task URL",
}
ID_NAME = "id"

_MISSING = object()


def _lookup(name: str, task: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
    if name in task:
        return task[name]
    key = normalize_name(name)
    if key == ID_NAME and ID_NAME in extra:
        return extra[ID_NAME]
    if key in SPECIAL_KEYS and SPECIAL_KEYS[key] in task:
        return task[SPECIAL_KEYS[key]]
    for source in (extra, task):
        found = match_name(name, source)
        if found is not None:
            return source[found]
    return _MISSING


def format_value(value: Any) -> str:
    """A task value as the text inserted for a placeholder."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return ", ".join(text for text in (format_value(item) for item in value) if text)
    if isinstance(value, Mapping):
        # File values are dicts; their name is what a message or request wants.
        for key in ("filename", "name", "url"):
            if isinstance(value.get(key), str):
                return value[key]
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def interpolate(
    template: str,
    task: dict[str, Any],
    *,
    encode: Callable[[str], str] | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Replace each resolvable ``{{trigger.name}}``; ``encode`` is applied to every inserted value."""
    extra = extra or {}
    task = task or {}

    def replace(match: re.Match[str]) -> str:
        value = _lookup(match.group(1), task, extra)
        if value is _MISSING:
            return match.group(0)
        text = format_value(value)
        return encode(text) if encode is not None else text

    return PLACEHOLDER_RE.sub(replace, template)


def encode_url_value(text: str) -> str:
    """Percent-encode a value for any part of a URL, so it stays data inside that part.

    quote(safe="") encodes "/", "?", "#", "@", ":", "%" etc.; dots are encoded too because a value of
    "." or ".." (or two values side by side) could otherwise form a dot segment that climbs the path.
    """
    return quote(text, safe="").replace(".", "%2E")


def interpolate_url(url: str, task: dict[str, Any], *, extra: dict[str, Any] | None = None) -> str:
    """Interpolate a URL template: values cannot add path segments, query parameters or change the host.

    The template's own text is untouched, so ``https://api.example.com/{{trigger.x}}`` keeps its host; a
    template that is *only* a placeholder yields an encoded (unusable) URL, by design.
    """
    return interpolate(url, task, encode=encode_url_value, extra=extra)


def interpolate_data(data: Any, task: dict[str, Any], *, extra: dict[str, Any] | None = None) -> Any:
    """A copy of JSON-like ``data`` with every string value interpolated; keys and non-strings untouched.

    Inserted values are plain string content of the result, so json.dumps escapes quotes and braces in
    them and they cannot change the JSON structure.
    """
    if isinstance(data, str):
        return interpolate(data, task, extra=extra)
    if isinstance(data, Mapping):
        return {key: interpolate_data(value, task, extra=extra) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [interpolate_data(item, task, extra=extra) for item in data]
    return data


def _strings(data: Any) -> Iterable[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, Mapping):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list | tuple):
        for item in data:
            yield from _strings(item)


def references(template_or_data: Any) -> set[str]:
    """Placeholder names used (as written, e.g. {"companyName", "stage"}) in a string or JSON-like data."""
    return {match.group(1) for text in _strings(template_or_data) for match in PLACEHOLDER_RE.finditer(text)}


def unknown_references(template_or_data: Any, field_names: Iterable[str], *, has_id: bool = True) -> set[str]:
    """Referenced names that would not resolve for a flow with these fields - for save-time validation.

    The built-ins ("Stage", "Assigned To", "Task URL", "Tags") always exist; ``id`` when ``has_id``.
    """
    known = dict.fromkeys([*field_names, "Stage", "Assigned To", "Task URL", "Tags"], "")
    extra = {ID_NAME: ""} if has_id else {}
    return {name for name in references(template_or_data) if _lookup(name, known, extra) is _MISSING}
