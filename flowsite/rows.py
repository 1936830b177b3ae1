"""Hand-written SQL: running a statement, and model instances from its rows converted as Django's ORM
converts them.

The engine's hottest reads (a run's claim, a task with its relations) are written once per connection
instead of compiled by the ORM every time; these helpers keep their columns and conversions Django's."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections


def columns_of(db, model, alias: str) -> tuple[list[str], list[tuple[str, Any, list]]]:
    """A model's concrete columns under a table alias: the select list's items, and for each column
    its attribute name, its Col and Django's converters for it (text to datetime or JSON, and so on)."""
    quote = db.ops.quote_name
    select, fields = [], []
    for field in model._meta.concrete_fields:
        select.append(f"{alias}.{quote(field.column)}")
        col = field.get_col(alias)
        fields.append((field.attname, col, db.ops.get_db_converters(col) + col.get_db_converters(db)))
    return select, fields


def from_values(db, model, fields: list[tuple[str, Any, list]], values) -> Any:
    """The model instance of one row's values for `fields` (from `columns_of`)."""
    converted = []
    for (_attname, col, converters), value in zip(fields, values, strict=True):
        for converter in converters:
            value = converter(value, col, db)
        converted.append(value)
    return model.from_db(db.alias, [attname for attname, _c, _v in fields], converted)


# Per connection (each thread has its own), by key: statements and converters built once.
_plans: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def planned(key: Any, build: Callable[[Any], Any]) -> tuple[Any, Any]:
    """The default connection, and `build(connection)` made once for it under `key`."""
    db = connections[DEFAULT_DB_ALIAS]
    plans = _plans.setdefault(db, {})
    if key not in plans:
        plans[key] = build(db)
    return db, plans[key]


def sql(statement: str, params: list) -> list[tuple]:
    """Run one hand-written statement on the default connection: its rows, or [] when it returns none."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def placeholders(values) -> str:
    """One %s per value, comma-separated: an IN list's parameters."""
    return ", ".join(["%s"] * len(values))
