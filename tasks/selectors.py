"""Reads for tasks, their history, comments and notifications."""

import json
from typing import Any

from django.db import NotSupportedError
from django.db.models import BooleanField, Count, F, Func, Q, QuerySet
from django.http import Http404

from flows.models import Field, Flow, User
from tasks.models import Comment, Mention, Task
from tasks.values import T, TaskValidationError, filter_value


def unread_mentions_by_flow(*, user: User, flow_ids) -> dict[str, int]:
    rows = (
        Mention.objects.filter(user=user, flow_id__in=list(flow_ids), read_at__isnull=True)
        .values("flow_id")
        .annotate(n=Count("id"))
    )
    return {row["flow_id"]: row["n"] for row in rows}


class JsonMatch(Func):
    """A condition on one value of a JSON column, for SQLite and PostgreSQL.

    Django's `data__<key>` lookups read a key that looks like a number ("12", a Field id) as an
    array index, so field filters are written here with the key always an object key.
    ops: "eq" (the value as text equals), "true" (the value is JSON true), "contains" (the value
    is a list holding the text). key=None means the column itself (the task's tags).
    """

    output_field = BooleanField()

    def __init__(self, column: str, *, key: str | None, op: str, value: Any = None):
        super().__init__(F(column))
        self.key, self.op, self.value = key, op, value

    def as_sql(self, compiler, connection, **extra_context):
        lhs, params = compiler.compile(self.source_expressions[0])
        params = list(params)
        if connection.vendor == "sqlite":
            path = "$" if self.key is None else "$." + json.dumps(self.key)
            if self.op == "eq":
                return f"COALESCE(JSON_EXTRACT({lhs}, %s) = %s, 0)", (*params, path, self.value)
            if self.op == "true":
                return f"COALESCE(JSON_TYPE({lhs}, %s) = 'true', 0)", (*params, path)
            if self.op == "contains":
                sql = f"EXISTS (SELECT 1 FROM JSON_EACH({lhs}, %s) AS je WHERE je.value = %s)"
                return sql, (*params, path, self.value)
        elif connection.vendor == "postgresql":
            target, target_params = (lhs, []) if self.key is None else (f"({lhs} -> %s::text)", [self.key])
            if self.op == "eq":
                target = f"({lhs} ->> %s::text)" if self.key is not None else f"({lhs} #>> '{{}}')"
                return f"COALESCE({target} = %s, false)", (*params, *target_params, self.value)
            if self.op == "true":
                return f"COALESCE({target} = 'true'::jsonb, false)", (*params, *target_params)
            if self.op == "contains":
                return (
                    f"COALESCE({target} @> %s::jsonb, false)",
                    (*params, *target_params, json.dumps([self.value])),
                )
        raise NotSupportedError(f"Task filters support SQLite and PostgreSQL, not {connection.vendor}.")


def task_queryset(*, flow: Flow) -> QuerySet[Task]:
    return Task.objects.filter(flow=flow).select_related("stage", "assignee", "flow__organization")


def _field_condition(field: Field, text: str) -> Q:
    key = str(field.pk)
    if not text.strip():
        return ~Q(data__has_key=key)
    value = filter_value(field, text)
    if field.type == T.CHECKBOX:
        condition = Q(JsonMatch("data", key=key, op="true"))
        return condition if value else ~condition
    if field.type == T.MULTIPLE_SELECT:
        return Q(JsonMatch("data", key=key, op="contains", value=value))
    return Q(JsonMatch("data", key=key, op="eq", value=value))


def task_list(*, flow: Flow, filters: dict[str, str], active_only: bool = False) -> QuerySet[Task]:
    """Tasks of the flow, newest first, filtered by field, Stage, Assigned To, Tags or id named as in the
    task JSON (case-insensitive). An empty value means "has no value". Unknown names raise
    TaskValidationError."""
    fields = {field.name.lower(): field for field in Field.objects.filter(flow=flow)}
    qs = task_queryset(flow=flow)
    errors: dict[str, list[str]] = {}
    for name, raw in filters.items():
        text = raw if isinstance(raw, str) else str(raw)
        lname = name.strip().lower()
        if lname == "stage":
            qs = qs.filter(stage__name__iexact=text.strip()) if text.strip() else qs.none()
        elif lname == "assigned to":
            qs = (
                qs.filter(assignee__isnull=True)
                if not text.strip()
                else qs.filter(assignee__email__iexact=text.strip())
            )
        elif lname == "tags":
            if text.strip():
                qs = qs.filter(JsonMatch("tags", key=None, op="contains", value=text.strip()))
            else:
                qs = qs.filter(tags=[])
        elif lname == "id":
            qs = qs.filter(pk=int(text)) if text.strip().isdigit() else qs.none()
        elif lname in fields:
            try:
                qs = qs.filter(_field_condition(fields[lname], text))
            except ValueError as exc:
                errors[fields[lname].name] = [str(exc)]
        else:
            errors[name] = ["is not a field of this flow"]
    if errors:
        raise TaskValidationError(errors)
    if active_only:
        qs = qs.filter(stage__end_stage=False)
    return qs.order_by("-id")


def task_get_by_key(*, flow: Flow, key: str) -> Task:
    """`:key` is the unique key's value, or the task's id where the flow has no unique key."""
    key_field = Field.objects.filter(flow=flow, unique=True).first()
    qs = task_queryset(flow=flow)
    task = None
    if key_field is None:
        if key.isdigit():
            task = qs.filter(pk=int(key)).first()
    elif key:
        try:
            normalized = filter_value(key_field, key) if key_field.type in (T.NUMBER, T.UNIQUE_ID, T.EMAIL) else key
        except ValueError:
            normalized = key
        task = qs.filter(key=str(normalized)).first()
    if task is None:
        raise Http404
    return task


def task_get(*, flow: Flow, task_id) -> Task:
    try:
        task_id = int(task_id)
    except (TypeError, ValueError):
        raise Http404
    task = task_queryset(flow=flow).filter(pk=task_id).first()
    if task is None:
        raise Http404
    return task


def comment_list(*, task: Task) -> QuerySet[Comment]:
    return task.comments.select_related("author").order_by("id")
