"""Workflow trigger filters: checked when a workflow is saved, evaluated against a task when it triggers.

A filter is a group ``{"logic": "AND" | "OR", "conditions": [...]}`` whose conditions are either
``{"field", "operator", "value"}`` or nested groups. ``None`` / ``{}`` (and an empty top-level group)
match every task.

Decisions, so the API documentation and the UI can say the same thing:

* Field names are matched forgivingly (``flowsite.names.match_name``): "source" finds "Source",
  "company_name" finds "Company Name", "assigned_to" finds the built-in "Assigned To".
* Comparisons follow the field's type: number/currency/uniqueId as Decimal ("100" > "20"),
  date as a date, datetime as an aware datetime (naive means UTC), checkbox as a bool ("true"/"false"
  accepted). Everything else (text, longText, phone, email, url, person, singleSelect) compares
  case-insensitively, because CRM users expect "acme" to find "ACME"; equality also ignores
  surrounding whitespace, while contains/starts_with use the condition's text as written.
* multipleSelect (and "Tags"): equals/contains mean membership ("vip" in the list); a list value for
  equals means the same set, for contains "all of these". in/not_in: any of the task's values is listed.
* Empty is None, "", whitespace-only text, [] or {} - and a missing key. ``equals`` with a null/""
  value means "is empty". An unchecked checkbox is often simply absent, so for equals/in a missing
  checkbox counts as false.
* "Negative" operators hold for empty values (an empty field does not equal / contain / lie in
  anything), but every operator is false when a value cannot be parsed for its typed comparison.
  Evaluation never raises: malformed conditions (unknown operator, bad logic) are false.
* changed_to / changed_from / any_change need to know what changed: the ``changed`` field names if
  given, else a comparison of ``old_values`` with ``values``; with neither they are false.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from flowsite.names import match_name, normalize_name

OPERATORS: tuple[str, ...] = (
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "starts_with",
    "is_empty",
    "is_not_empty",
    "greater_than",
    "less_than",
    "greater_or_equal",
    "less_or_equal",
    "in",
    "not_in",
    "changed_to",
    "changed_from",
    "any_change",
)
LOGICS: tuple[str, ...] = ("AND", "OR")
MAX_DEPTH = 5  # levels of groups, the top-level group being level 1
MAX_CONDITIONS = 50  # leaf conditions in the whole filter
MAX_LIST_VALUES = 500  # items in an in/not_in list
_EVAL_DEPTH_GUARD = 32  # evaluation of unvalidated input must not recurse without bound

# Every task has these, whatever the flow's own fields are.
BUILTIN_FIELD_TYPES: dict[str, str] = {
    "Stage": "text",
    "Assigned To": "person",
    "Tags": "multipleSelect",
    "Task URL": "url",
}

NUMBER_TYPES = frozenset({"number", "currency", "uniqueId"})
ORDERED_TYPES = NUMBER_TYPES | {"date", "datetime"}
TEXT_TYPES = frozenset({"text", "longText", "phone", "email", "url", "person", "singleSelect"})
FIELD_TYPES = TEXT_TYPES | ORDERED_TYPES | {"checkbox", "multipleSelect", "file"}
_TYPE_BY_KEY = {normalize_name(name): name for name in FIELD_TYPES}

NO_VALUE_OPERATORS = frozenset({"is_empty", "is_not_empty", "any_change"})
EQUALITY_OPERATORS = frozenset({"equals", "not_equals", "changed_to", "changed_from"})
TEXT_OPERATORS = frozenset({"contains", "not_contains", "starts_with"})
LIST_OPERATORS = frozenset({"in", "not_in"})
ORDER_OPERATORS = frozenset({"greater_than", "less_than", "greater_or_equal", "less_or_equal"})
# "notEquals", "NOT-EQUALS" and "not_equals" all name the same operator, like field names do.
_OPERATOR_BY_KEY = {normalize_name(op): op for op in OPERATORS}

_PARSE_ERRORS = (ValueError, TypeError, ArithmeticError)


class FilterError(ValueError):
    """An invalid filter. ``errors`` maps paths ("conditions[1].conditions[0].operator") to reasons.

    Errors about the filter as a whole use the key "filter"; about the top-level group "logic" / "conditions".
    """

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{path}: {', '.join(reasons)}" for path, reasons in errors.items()))


# ---------------------------------------------------------------------------------------------------------
# Values


def _is_empty(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or value == [] or value == {}


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | Decimal)  # bool is an int


def _canonical_type(field_type: Any) -> str:
    # Unknown or misspelt types fall back to text: the safest comparison for arbitrary JSON strings.
    return _TYPE_BY_KEY.get(normalize_name(field_type), "text") if isinstance(field_type, str) else "text"


def _canonical_operator(operator: Any) -> str | None:
    return _OPERATOR_BY_KEY.get(normalize_name(operator)) if isinstance(operator, str) else None


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("a checkbox is not a number")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("not a number")
    else:
        raise ValueError("not a number")
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number


def _to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value.strip())  # Python 3.11 accepts the "Z" suffix
    else:
        raise ValueError("not a datetime")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError("not a date")
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        # A full timestamp given for a date field still names a day.
        return _to_datetime(value).date()


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("not true or false")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_scalar(value):
        return str(value)
    raise ValueError("not a single text value")


def _fold(value: Any) -> str:
    return _text(value).strip().casefold()


def _key(value: Any, field_type: str) -> Any:
    """The comparable form of one value for a field type; raises on values that do not parse."""
    if field_type in NUMBER_TYPES:
        return _to_decimal(value)
    if field_type == "date":
        return _to_date(value)
    if field_type == "datetime":
        return _to_datetime(value)
    if field_type == "checkbox":
        return _to_bool(value)
    return _fold(value)


def _items(value: Any) -> list[str]:
    """A multipleSelect value as folded strings; a lone string counts as a one-item list."""
    if _is_empty(value):
        return []
    return [_fold(item) for item in value] if isinstance(value, list) else [_fold(value)]


def _file_names(value: Any) -> list[str]:
    files = value if isinstance(value, list) else [value]
    names = []
    for item in files:
        if isinstance(item, Mapping):
            name = item.get("filename") or item.get("name")
            if isinstance(name, str):
                names.append(name.casefold())
    return names


def _fill_checkbox(value: Any, field_type: str) -> Any:
    # Task.data drops empty values, so an unchecked box is usually absent rather than false.
    return False if field_type == "checkbox" and value is None else value


# ---------------------------------------------------------------------------------------------------------
# Comparisons. Each returns True/False, or None when the values cannot be compared (-> condition false).


def _equal(actual: Any, expected: Any, field_type: str) -> bool | None:
    if _is_empty(expected):  # equals null / "" reads as "is empty"
        return _is_empty(actual)
    actual = _fill_checkbox(actual, field_type)
    if _is_empty(actual):
        return False
    try:
        if field_type == "multipleSelect":
            items = _items(actual)
            if isinstance(expected, list):
                return set(items) == set(_items(expected))
            return _fold(expected) in items
        if field_type == "file":
            return None
        return _key(actual, field_type) == _key(expected, field_type)
    except _PARSE_ERRORS:
        return None


def _contains(actual: Any, needle: Any, field_type: str, *, prefix: bool = False) -> bool | None:
    if field_type in ORDERED_TYPES or field_type == "checkbox":
        return None  # no substring semantics for numbers, dates or booleans
    if _is_empty(actual):
        return False
    try:
        if field_type == "multipleSelect":
            items = _items(actual)
            if prefix:
                start = _text(needle).casefold()
                return any(item.startswith(start) for item in items)
            wanted = _items(needle)
            return bool(wanted) and all(item in items for item in wanted)
        if field_type == "file":
            part = _text(needle).casefold()
            return any(name.startswith(part) if prefix else part in name for name in _file_names(actual))
        haystack, part = _text(actual).casefold(), _text(needle).casefold()
        return haystack.startswith(part) if prefix else part in haystack
    except _PARSE_ERRORS:
        return None


def _in(actual: Any, options: Any, field_type: str) -> bool | None:
    if field_type == "file":
        return None
    options = options if isinstance(options, list) else [options]
    actual = _fill_checkbox(actual, field_type)
    if _is_empty(actual):
        return False
    try:
        if field_type == "multipleSelect" or isinstance(actual, list):
            listed = {_fold(option) for option in options if _is_scalar(option)}
            return any(item in listed for item in _items(actual))
        key = _key(actual, field_type)
    except _PARSE_ERRORS:
        return None
    for option in options:
        try:
            if _key(option, field_type) == key:
                return True
        except _PARSE_ERRORS:
            continue  # an unparseable option simply matches nothing
    return False


def _order(actual: Any, expected: Any, field_type: str) -> int | None:
    if field_type not in ORDERED_TYPES or _is_empty(actual) or _is_empty(expected):
        return None
    try:
        left, right = _key(actual, field_type), _key(expected, field_type)
        return (left > right) - (left < right)
    except _PARSE_ERRORS:
        return None


def _same(old: Any, new: Any, field_type: str) -> bool:
    """Whether a field kept its value, for change detection without an explicit ``changed`` set."""
    old, new = _fill_checkbox(old, field_type), _fill_checkbox(new, field_type)
    if _is_empty(old) or _is_empty(new):
        return _is_empty(old) and _is_empty(new)
    if field_type in ORDERED_TYPES or field_type == "checkbox":
        try:
            return _key(old, field_type) == _key(new, field_type)  # "10" -> "10.00" is no change
        except _PARSE_ERRORS:
            pass
    # For text a change of case is still a change someone made.
    return old == new


# ---------------------------------------------------------------------------------------------------------
# Evaluation


def _field_table(field_types: Mapping[str, str]) -> dict[str, str]:
    table = {name: _canonical_type(kind) for name, kind in (field_types or {}).items()}
    for name, kind in BUILTIN_FIELD_TYPES.items():
        table.setdefault(name, kind)
    return table


class _Task:
    """One evaluation: the task's values before/after and how field names resolve."""

    def __init__(
        self,
        fields: dict[str, str],
        values: Mapping[str, Any],
        old_values: Mapping[str, Any] | None,
        changed: list[str] | None,
    ):
        self.fields = fields
        self.values = values
        self.old_values = old_values
        self.changed = changed

    def resolve(self, field: str) -> tuple[str, str]:
        name = match_name(field, self.fields)
        if name is None:
            # Not a known field (e.g. deleted since the filter was saved): read it as text, which makes
            # it empty unless the task still carries such a key.
            return field, "text"
        return name, self.fields[name]

    @staticmethod
    def _lookup(data: Mapping[str, Any] | None, name: str) -> Any:
        if not data:
            return None
        if name in data:
            return data[name]
        key = match_name(name, data)
        return data[key] if key is not None else None

    def new(self, name: str) -> Any:
        return self._lookup(self.values, name)

    def old(self, name: str) -> Any:
        return self._lookup(self.old_values, name)

    def did_change(self, name: str, field_type: str) -> bool:
        if self.changed is not None:
            return match_name(name, self.changed) is not None
        if self.old_values is None:
            return False
        return not _same(self.old(name), self.new(name), field_type)


def _evaluate_condition(condition: Mapping[str, Any], task: _Task) -> bool:
    field, operator = condition.get("field"), _canonical_operator(condition.get("operator"))
    if not isinstance(field, str) or operator is None:
        return False
    name, field_type = task.resolve(field)
    expected = condition.get("value")
    actual = task.new(name)
    match operator:
        case "is_empty":
            return _is_empty(actual)
        case "is_not_empty":
            return not _is_empty(actual)
        case "equals":
            return _equal(actual, expected, field_type) is True
        case "not_equals":
            return _equal(actual, expected, field_type) is False
        case "contains":
            return _contains(actual, expected, field_type) is True
        case "not_contains":
            return _contains(actual, expected, field_type) is False
        case "starts_with":
            return _contains(actual, expected, field_type, prefix=True) is True
        case "in":
            return _in(actual, expected, field_type) is True
        case "not_in":
            return _in(actual, expected, field_type) is False
        case "greater_than":
            return (_order(actual, expected, field_type) or 0) > 0
        case "greater_or_equal":
            return _order(actual, expected, field_type) in (0, 1)
        case "less_than":
            return (_order(actual, expected, field_type) or 0) < 0
        case "less_or_equal":
            return _order(actual, expected, field_type) in (0, -1)
        case "any_change":
            return task.did_change(name, field_type)
        case "changed_to":
            return task.did_change(name, field_type) and _equal(actual, expected, field_type) is True
        case "changed_from":
            return task.did_change(name, field_type) and _equal(task.old(name), expected, field_type) is True
    return False


def _evaluate_group(group: Any, task: _Task, depth: int) -> bool:
    if not isinstance(group, Mapping) or depth > _EVAL_DEPTH_GUARD:
        return False
    logic = group.get("logic", "AND")
    logic = logic.strip().upper() if isinstance(logic, str) else None
    conditions = group.get("conditions") or []
    if logic not in LOGICS or not isinstance(conditions, list):
        return False
    if not conditions:
        return True

    def results() -> Iterable[bool]:
        for item in conditions:
            if isinstance(item, Mapping) and "conditions" in item:
                yield _evaluate_group(item, task, depth + 1)
            elif isinstance(item, Mapping):
                yield _evaluate_condition(item, task)
            else:
                yield False

    return all(results()) if logic == "AND" else any(results())


def has_conditions(filter_obj: Any) -> bool:
    """Whether `evaluate`'s answer for this filter depends on the task: one without conditions passes
    (or, malformed, fails) whatever the task's values, so a caller need not build them."""
    return bool(filter_obj) and (not isinstance(filter_obj, Mapping) or bool(filter_obj.get("conditions")))


def evaluate(
    filter_obj: dict | None,
    *,
    values: dict[str, Any],
    field_types: dict[str, str],
    old_values: dict[str, Any] | None = None,
    changed: Iterable[str] | None = None,
) -> bool:
    """Whether a task (``values``, keyed by field names as written) passes the filter. Never raises."""
    if not filter_obj:
        return True
    task = _Task(_field_table(field_types), values or {}, old_values, None if changed is None else list(changed))
    return _evaluate_group(filter_obj, task, 1)


# ---------------------------------------------------------------------------------------------------------
# Validation


def _supported_operators(field_type: str) -> frozenset[str]:
    if field_type in ORDERED_TYPES:
        return NO_VALUE_OPERATORS | EQUALITY_OPERATORS | LIST_OPERATORS | ORDER_OPERATORS
    if field_type == "checkbox":
        return NO_VALUE_OPERATORS | EQUALITY_OPERATORS
    if field_type == "file":
        return NO_VALUE_OPERATORS | {"contains", "not_contains"}  # on file names
    # text-like types and multipleSelect
    return NO_VALUE_OPERATORS | EQUALITY_OPERATORS | LIST_OPERATORS | TEXT_OPERATORS


def _kind(field_type: str, plural: bool = False) -> str:
    if field_type in NUMBER_TYPES:
        return "numbers" if plural else "a number"
    if field_type == "date":
        return "dates (YYYY-MM-DD)" if plural else "a date (YYYY-MM-DD)"
    if field_type == "datetime":
        return "dates with times (ISO 8601)" if plural else "a date with time (ISO 8601)"
    if field_type == "checkbox":
        return "true or false"
    return "text values" if plural else "a text value"


def _parses(value: Any, field_type: str) -> bool:
    try:
        _key(value, field_type)
    except _PARSE_ERRORS:
        return False
    return True


def _show(text: str) -> str:
    # Echo user input in messages, but never a megabyte of it.
    return text if len(text) <= 60 else text[:57] + "..."


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _TooManyConditions(Exception):
    pass


class _Validator:
    def __init__(self, fields: dict[str, str]):
        self.fields = fields
        self.errors: dict[str, list[str]] = {}
        self.count = 0

    def add(self, path: str, reason: str) -> None:
        self.errors.setdefault(path, []).append(reason)

    def group(self, group: Mapping[str, Any], path: str, depth: int) -> dict:
        logic = group.get("logic", "AND")
        logic = logic.strip().upper() if isinstance(logic, str) else None
        if logic not in LOGICS:
            self.add(_join(path, "logic"), "logic must be AND or OR")
        conditions_path = _join(path, "conditions")
        conditions = group.get("conditions")
        if not isinstance(conditions, list):
            self.add(conditions_path, "conditions must be a list")
            conditions = []
        elif not conditions and path:
            self.add(conditions_path, "a group needs at least one condition")
        normalized = []
        for index, item in enumerate(conditions):
            item_path = f"{conditions_path}[{index}]"
            if not isinstance(item, Mapping):
                self.add(item_path, "must be a condition or a group object")
            elif "conditions" in item:
                if depth >= MAX_DEPTH:
                    self.add(item_path, f"groups can be nested at most {MAX_DEPTH} levels deep")
                else:
                    normalized.append(self.group(item, item_path, depth + 1))
            else:
                self.count += 1
                if self.count > MAX_CONDITIONS:
                    raise _TooManyConditions  # stop early: no point validating a huge list
                normalized.append(self.condition(item, item_path))
        return {"logic": logic or "AND", "conditions": normalized}

    def condition(self, condition: Mapping[str, Any], path: str) -> dict:
        raw_field, raw_operator = condition.get("field"), condition.get("operator")
        value = condition.get("value")
        name = field_type = None
        if not isinstance(raw_field, str) or not raw_field.strip():
            self.add(_join(path, "field"), "field is required")
        else:
            name = match_name(raw_field.strip(), self.fields)
            if name is None:
                alike = sorted(n for n in self.fields if normalize_name(n) == normalize_name(raw_field))
                if len(alike) > 1:
                    matches = ", ".join(f'"{n}"' for n in alike)
                    self.add(_join(path, "field"), f'field "{_show(raw_field)}" is ambiguous: it matches {matches}')
                else:
                    self.add(_join(path, "field"), f'unknown field "{_show(raw_field)}"')
            else:
                field_type = self.fields[name]
        operator = _canonical_operator(raw_operator)
        if not isinstance(raw_operator, str) or not raw_operator.strip():
            self.add(_join(path, "operator"), "operator is required")
        elif operator is None:
            self.add(_join(path, "operator"), f'unknown operator "{_show(raw_operator)}"')
        if name is not None and field_type is not None and operator is not None:
            if operator not in _supported_operators(field_type):
                self.add(_join(path, "operator"), f"{operator} does not work on {field_type} field {name}")
            else:
                problem, value = self.value(operator, value, field_type, name)
                if problem:
                    self.add(_join(path, "value"), problem)
        return {"field": name or raw_field, "operator": operator or raw_operator, "value": value}

    @staticmethod
    def value(operator: str, value: Any, field_type: str, name: str) -> tuple[str | None, Any]:
        """(problem or None, normalized value) for one condition's value."""
        if operator in NO_VALUE_OPERATORS:
            return None, None  # the value is ignored; do not store leftovers from the UI
        if operator in LIST_OPERATORS:
            if not isinstance(value, list):
                return f"{operator} needs a list value", value
            if not value:
                return f"{operator} needs at least one value in its list", value
            if len(value) > MAX_LIST_VALUES:
                return f"{operator} takes at most {MAX_LIST_VALUES} values", value
            if any(not _is_scalar(item) or _is_empty(item) or not _parses(item, field_type) for item in value):
                return f"{operator} needs a list of {_kind(field_type, plural=True)} for field {name}", value
            return None, value
        if operator in ORDER_OPERATORS:
            if not _is_scalar(value) or _is_empty(value) or not _parses(value, field_type):
                return f"{operator} needs {_kind(field_type)} for field {name}", value
            return None, value
        if operator in TEXT_OPERATORS:
            multiple = field_type == "multipleSelect" and operator != "starts_with"
            items = value if multiple and isinstance(value, list) else [value]
            if not items or any(isinstance(v, bool) or not _is_scalar(v) or _is_empty(v) for v in items):
                return f"{operator} needs a text value for field {name}", value
            return None, value
        # equals, not_equals, changed_to, changed_from; null or "" means "empty"
        if value is None or value == "":
            return None, value
        if field_type == "multipleSelect" and isinstance(value, list):
            if any(not _is_scalar(item) or _is_empty(item) for item in value):
                return f"{operator} needs text values for field {name}", value
            return None, value
        if not _is_scalar(value):
            return f"{operator} needs a single value for field {name}", value
        if not _parses(value, field_type):
            return f"{operator} needs {_kind(field_type)} for field {name}", value
        if field_type == "checkbox":
            value = _to_bool(value)  # store a real boolean, not "true"
        return None, value


def validate_filter(filter_obj: Any, field_types: dict[str, str]) -> dict:
    """The normalized filter (canonical field and operator names, logic upper-case), or FilterError."""
    if filter_obj is None or filter_obj == {}:
        return {"logic": "AND", "conditions": []}
    if not isinstance(filter_obj, Mapping):
        raise FilterError({"filter": ['filter must be an object like {"logic": "AND", "conditions": [...]}']})
    validator = _Validator(_field_table(field_types))
    try:
        normalized = validator.group(filter_obj, "", 1)
    except _TooManyConditions:
        validator.add("conditions", f"a filter can have at most {MAX_CONDITIONS} conditions")
        raise FilterError(validator.errors)
    if validator.errors:
        raise FilterError(validator.errors)
    return normalized
