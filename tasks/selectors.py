"""Reads for tasks, their history, comments and notifications."""

import json
from typing import Any

from django.db import NotSupportedError
from django.db.models import BooleanField, Count, F, Func, Q, QuerySet
from django.http import Http404

from flows.models import Field, Flow, Organization, Stage, User
from flows.selectors import flow_readable_ids
from flowsite.bounds import id_or_none
from flowsite.rows import columns_of, from_values, planned
from tasks.models import Comment, Mention, Notification, Task
from tasks.values import T, TaskValidationError, filter_value


def unread_mentions_by_flow(*, user: User, flow_ids) -> dict[str, int]:
    """Unread mentions per flow, counted only in flows whose tasks the person may read."""
    rows = (
        Mention.objects.filter(user=user, flow_id__in=list(flow_ids), read_at__isnull=True)
        .filter(flow_id__in=flow_readable_ids(user=user))
        .values("flow_id")
        .annotate(n=Count("id"))
    )
    return {row["flow_id"]: row["n"] for row in rows}


def notification_list(*, user: User) -> QuerySet[Notification]:
    """The person's notifications they may read now. A notification quotes its task (a mention,
    a failed action, a workflow's message), so one about a flow counts only while the person
    may read that flow's tasks: a member who left or was blocked stops seeing them (and their
    count), and sees them again if let back in."""
    readable = flow_readable_ids(user=user)
    return Notification.objects.filter(user=user).filter(
        Q(flow_id__in=readable)
        | Q(flow__isnull=True, task__isnull=True)
        | Q(flow__isnull=True, task__flow_id__in=readable)
    )


def notification_unread_count(*, user: User) -> int:
    return notification_list(user=user).filter(read_at__isnull=True).count()


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
            task_id = id_or_none(text)
            qs = qs.filter(pk=task_id) if task_id is not None else qs.none()
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
        task_id = id_or_none(key) if key.isdigit() else None
        if task_id is not None:
            task = qs.filter(pk=task_id).first()
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
    task_id = id_or_none(task_id)
    if task_id is None:
        raise Http404
    task = task_queryset(flow=flow).filter(pk=task_id).first()
    if task is None:
        raise Http404
    return task


def comment_list(*, task: Task) -> QuerySet[Comment]:
    return task.comments.select_related("author").order_by("id")


# --- a task with everything a change or a step reads, by id ---------------------------------------

# (model, table alias, how it hangs off the task): the task, then what select_related would bring.
_WITH_RELATIONS = [
    (Task, "t", None),
    (Flow, "f", "flow"),
    (Organization, "o", "flow.organization"),
    (Stage, "s", "stage"),
    (User, "u", "assignee"),
]


def task_with_relations(*, task_id: int, lock: bool = False) -> Task | None:
    """The task with its flow, organization, stage and assignee, as
    `Task.objects.select_related("flow__organization", "stage", "assignee")` reads it, but from SQL
    written once per connection. `lock`: lock the task's row (only it) until the transaction ends.

    The engine reads the task fresh for every step and every change locks it first; compiling the
    ORM query took several times the database's own time for it (bench/README.md)."""
    db, (statement, columns) = planned(("task_with_relations", lock), lambda db: _task_read_plan(db, lock))
    with db.cursor() as cursor:
        cursor.execute(statement, [task_id])
        row = cursor.fetchone()
    return None if row is None else _task_from_row(db, columns, row)


def tasks_with_relations(*, task_ids: list[int]) -> dict[int, Task]:
    """`task_with_relations` for many tasks in one statement (the worker's batch of runs), by id;
    a task that no longer exists is missing."""
    if not task_ids:
        return {}
    db, (select, tree, columns) = planned("task_with_relations_parts", _task_read_parts)
    statement = f"SELECT {select} FROM {tree} WHERE t.id IN ({', '.join(['%s'] * len(task_ids))})"
    with db.cursor() as cursor:
        cursor.execute(statement, list(task_ids))
        rows = cursor.fetchall()
    # The tasks of one flow share its Flow and Organization objects (a batch's tasks are mostly one
    # flow's): made once, not once per row. Callers read them and must not change them.
    shared: dict[tuple[str, Any], Any] = {}
    tasks = (_task_from_row(db, columns, row, shared) for row in rows)
    return {task.pk: task for task in tasks}


def _task_from_row(db, columns: list, row: tuple, shared: dict | None = None) -> Task:
    made: dict[str | None, Any] = {}
    start = 0
    for (model, _alias, place), fields in zip(_WITH_RELATIONS, columns, strict=True):
        values = row[start : start + len(fields)]
        start += len(fields)
        if place == "assignee" and values[0] is None:  # the LEFT JOIN found no assignee
            made[place] = None
            continue
        if shared is not None and place in ("flow", "flow.organization"):
            made[place] = shared.get((place, values[0]))  # by id, the first column
            if made[place] is not None:
                continue
        made[place] = from_values(db, model, fields, values)
        if shared is not None and place in ("flow", "flow.organization"):
            shared[(place, values[0])] = made[place]
    task = made[None]
    task.flow, task.stage, task.assignee = made["flow"], made["stage"], made["assignee"]
    task.flow.organization = made["flow.organization"]
    return task


def task_with_relations_sql() -> tuple[str, str]:
    """`task_with_relations` as parts of another statement, to read the task in the same round trip
    as something else: its select list and its join tree, the task's table aliased `t`
    (`... LEFT JOIN ({tree}) ON t.id = %s`). `task_with_relations_from_row` reads the task from
    the columns of the list."""
    _db, (select, tree, _columns) = planned("task_with_relations_parts", _task_read_parts)
    return select, tree


def task_with_relations_from_row(row: tuple) -> Task | None:
    """The task of a row whose columns are `task_with_relations_sql`'s select list (None when the
    LEFT JOIN found no task)."""
    db, (_select, _tree, columns) = planned("task_with_relations_parts", _task_read_parts)
    return None if row[0] is None else _task_from_row(db, columns, row)


def _task_read_parts(db) -> tuple[str, str, list]:
    quote = db.ops.quote_name
    select, columns = [], []
    for model, alias, _place in _WITH_RELATIONS:
        names, fields = columns_of(db, model, alias)
        select += names
        columns.append(fields)
    table = {model: quote(model._meta.db_table) for model, _a, _p in _WITH_RELATIONS}
    tree = (
        f"{table[Task]} t"
        f" JOIN {table[Flow]} f ON f.id = t.flow_id"
        f" JOIN {table[Organization]} o ON o.id = f.organization_id"
        f" JOIN {table[Stage]} s ON s.id = t.stage_id"
        f" LEFT JOIN {table[User]} u ON u.id = t.assignee_id"
    )
    return ", ".join(select), tree, columns


def _task_read_plan(db, lock: bool) -> tuple[str, list]:
    _db, (select, tree, columns) = planned("task_with_relations_parts", _task_read_parts)
    statement = f"SELECT {select} FROM {tree} WHERE t.id = %s"
    if lock and db.features.has_select_for_update_of:
        statement += " FOR UPDATE OF t"  # SQLite has no row locks: its write transaction is the lock
    return statement, columns
