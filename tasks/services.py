"""Business rules for tasks: validation against the flow's schema, writes, history, comments, mentions.

Every write to a task goes through here, whichever door it came in by (API, page, action step,
workflow), so each change is validated the same way and leaves one TaskEvent.
"""

import logging
import re
from collections.abc import Callable
from functools import cache, lru_cache, partial
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.http import Http404
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils import timezone

from flows.models import Field, Flow, FlowMembership, Stage, User
from flows.selectors import flow_fields, flow_first_stage, flow_read_now
from flowsite import doorbell
from tasks.models import Comment, Mention, Notification, Task, TaskEvent
from tasks.selectors import task_with_relations
from tasks.values import (
    KEY_MAX,
    Fetched,
    T,
    TaskValidationError,
    blob_name,
    field_from_json,
    field_to_json,
    flow_member_emails,
    is_empty,
    key_text,
    remote_files_fetch,
)

logger = logging.getLogger(__name__)

BUILTIN_NAMES = ("Stage", "Assigned To", "Task URL", "Tags")
# Read-only keys of the task JSON: ignored on input, so a GET -> edit -> PUT round trip works.
READ_ONLY_KEYS = {"task url", "id"}
SOURCES = {"api", "web", "action", "workflow", "system"}
COMMENT_MAX = 10_000
TAG_MAX = 50
TAGS_MAX = 50
UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE for a duplicate key


class _DuplicateKey(TaskValidationError):
    """The unique key's value is taken (possibly by a concurrent create)."""


# --- reading helpers ---------------------------------------------------------------------------


def task_path(*, task: Task) -> str:
    flow = task.flow
    args = [flow.organization.parameterized_name, flow.parameterized_name]
    head = _task_path_head(get_script_prefix(), get_urlconf(), *args)
    if head is not None:
        return f"{head}{task.pk}"
    try:
        return reverse("task_detail", args=[*args, task.pk])
    except NoReverseMatch:
        return "/flows/{}/{}/tasks/{}".format(*args, task.pk)


@lru_cache(maxsize=1024)
def _task_path_head(script_prefix: str, urlconf: Any, org: str, flow: str) -> str | None:
    """What comes before the id in the path of every task of a flow (reversing the URL per task
    costs more than the rest of the task's JSON), or None when the id is not at the path's end.
    Keyed by the script prefix and URLconf that reverse() reads, so it follows either."""
    try:
        path = reverse("task_detail", args=[org, flow, 0])
    except NoReverseMatch:
        return None
    return path[:-1] if path.endswith("/0") else None


def task_url(*, task: Task, request=None) -> str:
    path = task_path(task=task)
    if request is not None:
        return request.build_absolute_uri(path)
    # Background work has no request; SITE_URL (if the operator set one) makes the link absolute.
    return getattr(settings, "SITE_URL", "").rstrip("/") + path


def task_to_json(*, task: Task, fields: list[Field] | None = None, request=None) -> dict:
    """The Task API's JSON: built-ins, then fields by position, then Tags, Task URL and id."""
    if fields is None:
        fields = flow_fields(flow=task.flow)
    data = task.data or {}
    out: dict[str, Any] = {
        "Stage": task.stage.name,
        "Assigned To": task.assignee.email if task.assignee_id else None,
    }
    for field in fields:
        out[field.name] = field_to_json(field, data.get(str(field.pk)))
    out["Tags"] = list(task.tags or [])
    out["Task URL"] = task_url(task=task, request=request)
    out["id"] = task.pk
    return out


# --- validation --------------------------------------------------------------------------------


def _clean_tags(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("must be a list of strings")
    tags: list[str] = []
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValueError("each tag must be a non-empty string")
        item = item.strip()
        if len(item) > TAG_MAX or re.search(r"[\x00-\x1f\x7f]", item):
            raise ValueError(f"each tag must be one line of at most {TAG_MAX} characters")
        if item.lower() not in seen:
            seen.add(item.lower())
            tags.append(item)
    if len(tags) > TAGS_MAX:
        raise ValueError(f"at most {TAGS_MAX} tags")
    return tags


def _complete_files(field: Field, stored: list[dict], task: Task | None) -> list[dict]:
    """Entries that name an existing blob are only valid for blobs the task already holds in that field."""
    current = {}
    if task is not None:
        current = {item.get("blobId"): item for item in (task.data or {}).get(str(field.pk)) or []}
    out = []
    for item in stored:
        if "_pending" in item:
            out.append(item)
        elif item["blobId"] in current:
            out.append(dict(current[item["blobId"]]))
        else:
            raise ValueError(f"unknown blobId {item['blobId']}")
    return out


def _validate(
    *,
    flow: Flow,
    data: Any,
    task: Task | None,
    partial: bool,
    fields: list[Field],
    source: str = "api",
    fetched: Fetched | None = None,
) -> dict:
    if not isinstance(data, dict):
        raise TaskValidationError({"body": ["must be a JSON object"]})
    by_name = {field.name.lower(): field for field in fields}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {"data": {}}
    members: dict[str, int] | None = None

    def member_emails() -> dict[str, int]:
        nonlocal members
        if members is None:
            members = flow_member_emails(flow)
        return members

    for name, value in data.items():
        lname = str(name).strip().lower()
        if lname in READ_ONLY_KEYS:
            continue
        if lname == "stage":
            stage = None
            if isinstance(value, str) and value.strip():
                stage = Stage.objects.filter(flow=flow, name__iexact=value.strip()).first()
            if stage is None:
                errors["Stage"] = ["is not a stage of this flow"]
            else:
                cleaned["stage"] = stage
        elif lname == "assigned to":
            if is_empty(value):
                cleaned["assignee"] = None
            elif isinstance(value, str) and value.strip().lower() in member_emails():
                cleaned["assignee"] = User.objects.get(pk=member_emails()[value.strip().lower()])
            else:
                errors["Assigned To"] = ["must be the email of a member of this flow"]
        elif lname == "tags":
            try:
                cleaned["tags"] = _clean_tags([] if value is None else value)
            except ValueError as exc:
                errors["Tags"] = [str(exc)]
        elif lname in by_name:
            field = by_name[lname]
            if field.type == T.UNIQUE_ID:
                # Assigned by the server. Sending the task's own number is harmless (round trips, upserts).
                current = (task.data or {}).get(str(field.pk)) if task is not None else None
                if current is None or str(value).strip() != str(current):
                    errors[field.name] = ["is assigned automatically and cannot be set"]
                continue
            if source == "web" and not field.editable:
                errors[field.name] = ["cannot be edited"]
                continue
            try:
                people = member_emails() if field.type == T.PERSON else None
                stored = field_from_json(field, value, flow=flow, members=people, fetched=fetched)
                if field.type == T.FILE and stored is not None:
                    stored = _complete_files(field, stored, task)
            except ValueError as exc:
                errors[field.name] = [str(exc)]
                continue
            if stored is None and field.required:
                errors[field.name] = ["is required"]
                continue
            cleaned["data"][str(field.pk)] = stored
        else:
            errors[str(name)] = ["is not a field of this flow"]

    if not partial:
        for field in fields:
            if field.required and field.type != T.UNIQUE_ID and field.name not in errors:
                if cleaned["data"].get(str(field.pk)) is None:
                    errors[field.name] = ["is required"]

    key_field = next((f for f in fields if f.unique), None)
    if key_field is not None and key_field.type != T.UNIQUE_ID and str(key_field.pk) in cleaned["data"]:
        key = key_text(key_field, cleaned["data"][str(key_field.pk)])
        if len(key) > KEY_MAX:
            errors[key_field.name] = [f"must be at most {KEY_MAX} characters as the unique key"]
        elif key and (task is None or key != task.key):
            # A task keeping its own key (an upsert always names it) holds it: nothing to look up.
            taken = Task.objects.filter(flow=flow, key=key)
            if task is not None:
                taken = taken.exclude(pk=task.pk)
            if taken.exists():
                errors[key_field.name] = ["has already been taken"]
    if errors:
        raise TaskValidationError(errors)
    return cleaned


def task_validate(
    *,
    flow: Flow,
    data: dict,
    task: Task | None = None,
    partial: bool,
    source: str = "api",
    fetch_files: bool = True,
) -> dict:
    """Check task JSON against the flow's schema exactly as the Task API does; raise TaskValidationError.

    Returns the cleaned changes: {"data": {<field id>: stored value or None to clear}, and when sent
    "stage": Stage, "assignee": User | None, "tags": [str]}. New file contents wait under "_pending"
    in their entries until a write service saves them. partial=False is a create: required fields
    must be present. `fetch_files=False` checks each remoteUrl as a URL and fetches nothing: for a
    value saved now and written later, which is fetched then.
    """
    fields = flow_fields(flow=flow)
    fetched = None if fetch_files else remote_files_fetch(fields=fields, data=data, fetch=False)
    return _validate(flow=flow, data=data, task=task, partial=partial, fields=fields, source=source, fetched=fetched)


# --- history -----------------------------------------------------------------------------------


# Called with no arguments after each commit that recorded task events. The apps above tasks
# register here in their AppConfig.ready() (tasks must not import them): the workflows app rings its
# dispatch worker. A hook only rings a doorbell; the events themselves wait in the table (their
# dispatched_at unset) for a worker, so a process that dies before its hooks run loses nothing.
EVENTS_RECORDED_HOOKS: list[Callable[[], None]] = []
# Which flows' events the subscribers take: an event of a flow none of them takes is recorded as
# dispatched already, and rings nobody (no worker would have anything to do with it).
EVENTS_HEARD: list[Callable[[Flow], bool]] = []


# The doorbell (flowsite.doorbell) a hook rings, for hooks whose ring is all they do: a create written
# in one statement on PostgreSQL rings it in that statement instead of calling the hook after it.
EVENTS_RING_TOPICS: dict[Callable[[], None], str] = {}


def task_events_subscribe(*, hook: Callable[[], None], heard: Callable[[Flow], bool], topic: str | None = None) -> None:
    """Call `hook` after every commit that recorded task events of a flow `heard(flow)` says the
    subscriber takes (once per registration). `topic`: the doorbell the hook rings, when ringing it
    is all the hook must do (its listeners, in this process too, hear it wherever it is rung)."""
    if hook not in EVENTS_RECORDED_HOOKS:
        EVENTS_RECORDED_HOOKS.append(hook)
        EVENTS_HEARD.append(heard)
        if topic is not None:
            EVENTS_RING_TOPICS[hook] = topic


def _events_committed(rung: tuple[Callable[[], None], ...] = ()) -> None:
    for hook in list(EVENTS_RECORDED_HOOKS):
        if hook not in rung:
            hook()


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")


def task_events_record(
    *, flow: Flow, items: list[tuple[Task, str, dict]], actor: User | None, source: str, depth: int = 0
) -> list[TaskEvent]:
    """Record (task, kind, changes) events in one insert, in the caller's transaction. The events
    are the workflows' outbox: nothing is matched here; after commit the subscribers' doorbells ring.
    Events nobody takes (task_events_subscribe) are recorded as dispatched."""
    _check_source(source)
    heard = _heard(flow)
    dispatched_at = None if heard else timezone.now()
    events = TaskEvent.objects.bulk_create(
        [_event(flow, task, kind, changes, actor, source, depth, dispatched_at) for task, kind, changes in items]
    )
    if heard:
        _ring_after_commit()
    return events


def _heard(flow: Flow) -> bool:
    return any(takes(flow) for takes in EVENTS_HEARD)


def _ring_after_commit(rung: tuple[Callable[[], None], ...] = ()) -> None:
    """The hooks after the commit, but those whose doorbell the write rang itself (`rung`)."""
    if len(rung) < len(EVENTS_RECORDED_HOOKS):
        # robust: the write has committed by then, and a doorbell that fails must not turn it into an
        # error (the worker's sweep finds events nobody rang for).
        transaction.on_commit(partial(_events_committed, rung), robust=True)


def _event(flow, task, kind, changes, actor, source, depth, dispatched_at) -> TaskEvent:
    return TaskEvent(
        flow=flow,
        task=task if kind != TaskEvent.Kind.DELETED else None,
        task_ref=task.pk,
        kind=kind,
        actor=actor if actor is not None and actor.is_authenticated else None,
        source=source,
        changes=changes,
        depth=depth,
        dispatched_at=dispatched_at,
    )


def _record(task: Task, *, kind: str, changes: dict, actor: User | None, source: str, depth: int) -> TaskEvent:
    return task_events_record(flow=task.flow, items=[(task, kind, changes)], actor=actor, source=source, depth=depth)[0]


# The columns a change writes (`_apply`, and the time of the change).
_CHANGED = ("stage", "assignee", "data", "key", "tags", "updated_at")
# A "created" event written in its task's INSERT statement takes these from the new task's id.
_FROM_NEW_TASK = ("task_id", "task_ref")


def _event_row(event: TaskEvent, *, new_task: bool = False) -> tuple[tuple[str, ...], list]:
    """A hand-written INSERT of `event` (the one-statement writes): its columns (all but the id) and the
    parameters of their values, but for a `new_task` written in the same statement, whose id the
    statement puts in the event's task and task_ref itself."""
    columns, params = [], []
    for field in TaskEvent._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if not (new_task and field.attname in _FROM_NEW_TASK):
            params.append(field.get_db_prep_save(getattr(event, field.attname), connection))
    return tuple(columns), params


@cache
def _save_and_record_statement(event_columns: tuple[str, ...]) -> str:
    quote = connection.ops.quote_name
    changed = [Task._meta.get_field(name).column for name in _CHANGED]
    return (
        f"WITH event AS (INSERT INTO {quote(TaskEvent._meta.db_table)} ({', '.join(map(quote, event_columns))})"
        f" VALUES ({', '.join(['%s'] * len(event_columns))}))"
        f" UPDATE {quote(Task._meta.db_table)} SET {', '.join(f'{quote(column)} = %s' for column in changed)}"
        " WHERE id = %s"
    )


def _save_and_record(task: Task, *, changes: dict, actor: User | None, source: str, depth: int) -> None:
    """Save a changed task (its key unchanged) and record its "updated" event, in the caller's
    transaction. On PostgreSQL in one statement (a data-modifying WITH): one round trip instead of
    two, and no ORM query to build."""
    if connection.vendor != "postgresql":
        task.save()
        _record(task, kind=TaskEvent.Kind.UPDATED, changes=changes, actor=actor, source=source, depth=depth)
        return
    _check_source(source)
    now = timezone.now()
    heard = _heard(task.flow)
    event = _event(task.flow, task, TaskEvent.Kind.UPDATED, changes, actor, source, depth, None if heard else now)
    event.created_at = task.updated_at = now  # auto_now_add and auto_now, as the ORM's save sets them
    columns, params = _event_row(event)
    for name in _CHANGED:
        field = Task._meta.get_field(name)
        params.append(field.get_db_prep_save(getattr(task, field.attname), connection))
    with connection.cursor() as cursor:
        cursor.execute(_save_and_record_statement(columns), [*params, task.pk])
    if heard:
        _ring_after_commit()


# --- writing -----------------------------------------------------------------------------------


def _names_remote_files(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    values = [item for value in data.values() for item in (value if isinstance(value, list) else [value])]
    return any(isinstance(item, dict) and "remoteUrl" in item for item in values)


def task_files_fetch(*, flow: Flow, data: Any, fields: list[Field] | None = None) -> Fetched:
    """The files the data names by remoteUrl, fetched before the write takes its transaction and
    locks: a slow server must not hold the task's row lock (see remote_files_fetch). A caller that
    writes inside a transaction of its own (a step's `apply`) fetches them with this before it opens
    it and hands them to the write as `fetched`."""
    if not _names_remote_files(data):
        return {}
    return remote_files_fetch(fields=fields if fields is not None else flow_fields(flow=flow), data=data)


def _store_blob(blob_id: str, content: bytes) -> None:
    name = default_storage.save(blob_name(blob_id), ContentFile(content))
    if name != blob_name(blob_id):
        logger.error("blob %s was stored as %s: the name was taken", blob_id, name)


def _write_blobs(stored: list[dict]) -> list[dict]:
    """Entries without their pending contents; the contents go to the file storage once the write
    commits, so a write that rolls back leaves no file behind."""
    out = []
    for item in stored:
        item = dict(item)
        content = item.pop("_pending", None)
        if content is not None:
            # robust: the task row is committed by then; a storage failure is logged, not raised.
            transaction.on_commit(partial(_store_blob, item["blobId"], content), robust=True)
        out.append(item)
    return out


def _apply(task: Task, cleaned: dict, fields: list[Field]) -> dict:
    """Apply cleaned changes to the (locked) task in memory; return the {name: [old, new]} that changed."""
    changes: dict[str, list] = {}
    if "stage" in cleaned and cleaned["stage"].pk != task.stage_id:
        changes["Stage"] = [task.stage.name if task.stage_id else None, cleaned["stage"].name]
        task.stage = cleaned["stage"]
    if "assignee" in cleaned:
        new = cleaned["assignee"]
        if (new.pk if new else None) != task.assignee_id:
            changes["Assigned To"] = [task.assignee.email if task.assignee_id else None, new.email if new else None]
            task.assignee = new
    if "tags" in cleaned and cleaned["tags"] != list(task.tags or []):
        changes["Tags"] = [list(task.tags or []), cleaned["tags"]]
        task.tags = cleaned["tags"]
    by_id = {str(field.pk): field for field in fields}
    data = dict(task.data or {})
    for field_id, stored in cleaned["data"].items():
        field = by_id[field_id]
        old = data.get(field_id)
        if field.type == T.FILE and stored is not None:
            stored = _write_blobs(stored)
        if stored == old:
            continue
        changes[field.name] = [field_to_json(field, old), field_to_json(field, stored)]
        if stored is None:
            data.pop(field_id, None)
        else:
            data[field_id] = stored
        if field.unique:
            task.key = key_text(field, stored)
    task.data = data
    return changes


def _key_field(fields: list[Field]) -> Field | None:
    return next((f for f in fields if f.unique), None)


def _save(task: Task, fields: list[Field]) -> None:
    if _key_field(fields) is None:
        task.save()  # no unique key, nothing to collide with: no savepoint needed
        return
    try:
        with transaction.atomic():
            task.save()
    except IntegrityError:
        key_field = _key_field(fields)
        raise _DuplicateKey({key_field.name if key_field else "body": ["has already been taken"]})


@cache
def _create_and_record_statement(event_columns: tuple[str, ...], rings: int) -> str:
    quote = connection.ops.quote_name
    task_columns = [field.column for field in Task._meta.concrete_fields if not field.primary_key]
    from_task = {TaskEvent._meta.get_field(name).column for name in _FROM_NEW_TASK}
    event_values = ["task.id" if column in from_task else "%s" for column in event_columns]
    return (
        f"WITH task AS (INSERT INTO {quote(Task._meta.db_table)} ({', '.join(map(quote, task_columns))})"
        f" VALUES ({', '.join(['%s'] * len(task_columns))}) RETURNING id),"
        f" event AS (INSERT INTO {quote(TaskEvent._meta.db_table)} ({', '.join(map(quote, event_columns))})"
        f" SELECT {', '.join(event_values)} FROM task)"
        f" SELECT {', '.join(['id', *[doorbell.RING_IN_STATEMENT] * rings])} FROM task"
    )


def _create_and_record(task: Task, *, changes: dict, actor: User | None, source: str, depth: int) -> None:
    """Insert a new task and its "created" event in one statement (PostgreSQL): a data-modifying
    WITH, atomic by itself, so outside a transaction no BEGIN or COMMIT is needed either. A
    duplicate unique key is refused as _save refuses it. The doorbells whose ring is all their hook
    does (EVENTS_RING_TOPICS) ring in the statement, heard when it commits as a ring after it would
    be, without a round trip of their own; the other hooks are called after it."""
    heard = _heard(task.flow)
    rung = tuple(hook for hook in EVENTS_RECORDED_HOOKS if hook in EVENTS_RING_TOPICS) if heard else ()
    now = timezone.now()
    event = _event(task.flow, task, TaskEvent.Kind.CREATED, changes, actor, source, depth, None if heard else now)
    task.created_at = task.updated_at = event.created_at = now  # auto_now_add and auto_now, as save() sets them
    params = [
        field.get_db_prep_save(getattr(task, field.attname), connection)
        for field in Task._meta.concrete_fields
        if not field.primary_key
    ]
    event_columns, event_params = _event_row(event, new_task=True)
    params += event_params
    try:
        with connection.cursor() as cursor:
            channels = [doorbell.channel(EVENTS_RING_TOPICS[hook]) for hook in rung]
            cursor.execute(_create_and_record_statement(event_columns, len(rung)), [*params, *channels])
            task.pk = cursor.fetchone()[0]
    except IntegrityError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != UNIQUE_VIOLATION:
            raise  # not the key (the event refused, say): nothing was written either way
        key_field = _key_field(flow_fields(flow=task.flow))
        raise _DuplicateKey({key_field.name if key_field else "body": ["has already been taken"]})
    task._state.adding = False
    task._state.db = connection.alias
    if heard:
        _ring_after_commit(rung)


def _one_statement_create(fields: list[Field]) -> bool:
    """Whether a create can be its one statement, outside any transaction: on PostgreSQL, with no
    number to draw from a counter (a locked read and an UPDATE before the INSERT) and no file whose
    contents must wait for the commit, and not inside a caller's transaction (whose savepoint a
    refused key would otherwise need)."""
    return (
        connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and not any(field.type in (T.UNIQUE_ID, T.FILE) for field in fields)
    )


def task_create(
    *,
    flow: Flow,
    actor: User | None,
    data: dict,
    source: str = "api",
    depth: int = 0,
    fields: list[Field] | None = None,
    fetched: Fetched | None = None,
) -> Task:
    _check_source(source)
    if fetched is None:
        fetched = task_files_fetch(flow=flow, data=data, fields=fields)
    if fields is None:
        fields = flow_fields(flow=flow)
    if _one_statement_create(fields):
        # Validation only reads (the unique key is the constraint's to guard), so it needs no
        # transaction; the write is one statement.
        task, changes = _create_build(flow=flow, actor=actor, data=data, source=source, fields=fields, fetched=fetched)
        _create_and_record(task, changes=changes, actor=actor, source=source, depth=depth)
        return task
    with transaction.atomic():
        task, changes = _create_build(flow=flow, actor=actor, data=data, source=source, fields=fields, fetched=fetched)
        for field in fields:
            if field.type == T.UNIQUE_ID:
                # The counter row lock serializes concurrent creates; the number is never reused.
                locked = Field.objects.select_for_update().get(pk=field.pk)
                number = str(locked.next_value)
                Field.objects.filter(pk=field.pk).update(next_value=locked.next_value + 1)
                task.data[str(field.pk)] = number
                task.key = number
                changes[field.name] = [None, number]
        _save(task, fields)
        _record(task, kind=TaskEvent.Kind.CREATED, changes=changes, actor=actor, source=source, depth=depth)
    return task


def _create_build(
    *, flow: Flow, actor: User | None, data: dict, source: str, fields: list[Field], fetched: Fetched
) -> tuple[Task, dict]:
    """The new task (unsaved) and its "created" event's changes, from validated data."""
    cleaned = _validate(flow=flow, data=data, task=None, partial=False, fields=fields, source=source, fetched=fetched)
    stage = cleaned.get("stage") or flow_first_stage(flow=flow)
    if stage is None:
        raise TaskValidationError({"Stage": ["this flow has no stages"]})
    task = Task(flow=flow, stage=stage, data={}, tags=[], created_by=actor if _real(actor) else None)
    changes = {"Stage": [None, stage.name]}
    changes.update(_apply(task, {k: v for k, v in cleaned.items() if k != "stage"}, fields))
    return task, changes


def _real(actor: User | None) -> bool:
    return actor is not None and getattr(actor, "is_authenticated", False)


def _lock(task: Task) -> Task:
    locked = task_with_relations(task_id=task.pk, lock=True)
    if locked is None:
        raise Http404
    flow_read_now(locked.flow)
    return locked


def _change(*, task: Task, actor: User | None, source: str, depth: int, build) -> Task:
    """Lock the row, build cleaned changes against the locked state, apply, save, record."""
    _check_source(source)
    if not transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            return _change_in_transaction(task=task, actor=actor, source=source, depth=depth, build=build)
    # In the caller's transaction (a step's `apply`), without a savepoint of our own: two statements
    # fewer. The refusals (the task is gone, the changes are invalid) come before any write, so they
    # leave the caller's transaction as it was and usable.
    return _change_in_transaction(task=task, actor=actor, source=source, depth=depth, build=build)


def _change_in_transaction(*, task: Task, actor: User | None, source: str, depth: int, build) -> Task:
    locked = _lock(task)
    fields = flow_fields(flow=locked.flow)
    cleaned = build(locked, fields)
    key_before = locked.key
    changes = _apply(locked, cleaned, fields)
    if not changes:
        return locked
    if locked.key != key_before:
        # A new key may collide with another task's: the savepoints let the caller go on after the
        # refusal (_DuplicateKey), as after any other invalid change.
        with transaction.atomic():
            _save(locked, fields)
            _record(locked, kind=TaskEvent.Kind.UPDATED, changes=changes, actor=actor, source=source, depth=depth)
        return locked
    # The same key cannot collide. Without a savepoint, a failure between the UPDATE and the event
    # marks the caller's whole transaction for rollback: the change is never half-written.
    with transaction.atomic(savepoint=False):
        _save_and_record(locked, changes=changes, actor=actor, source=source, depth=depth)
    return locked


def task_update(
    *, task: Task, actor: User | None, data: dict, source: str = "api", depth: int = 0, fetched: Fetched | None = None
) -> Task:
    """Partial update: only the keys present change. No event when nothing changed.

    `fetched`: the data's remote files as task_files_fetch fetched them, when the caller did."""
    if fetched is None:
        fetched = task_files_fetch(flow=task.flow, data=data)

    def build(locked: Task, fields: list[Field]) -> dict:
        return _validate(
            flow=locked.flow, data=data, task=locked, partial=True, fields=fields, source=source, fetched=fetched
        )

    return _change(task=task, actor=actor, source=source, depth=depth, build=build)


def task_upsert(
    *,
    flow: Flow,
    actor: User | None,
    data: dict,
    source: str = "api",
    depth: int = 0,
    fields: list[Field] | None = None,
) -> tuple[Task, bool]:
    """Create, or update the task whose unique key the body carries. Returns (task, created).

    `fields`: the flow's fields, when the caller has read them already (it answers with them too)."""
    if not isinstance(data, dict):
        raise TaskValidationError({"body": ["must be a JSON object"]})
    if fields is None:
        fields = flow_fields(flow=flow)
    # Once for the create and the update alike: after a race, both are tried with the same files.
    fetched = task_files_fetch(flow=flow, data=data, fields=fields)
    existing = _find_by_body_key(flow, data, fields)
    if existing is not None:
        return task_update(task=existing, actor=actor, data=data, source=source, depth=depth, fetched=fetched), False
    try:
        created = task_create(
            flow=flow, actor=actor, data=data, source=source, depth=depth, fields=fields, fetched=fetched
        )
        return created, True
    except _DuplicateKey:
        # A concurrent request created the same key between our lookup and insert: update it instead.
        existing = _find_by_body_key(flow, data, fields)
        if existing is None:
            raise
        return task_update(task=existing, actor=actor, data=data, source=source, depth=depth, fetched=fetched), False


def _find_by_body_key(flow: Flow, data: dict, fields: list[Field]) -> Task | None:
    """The task whose unique key the body names, as far as the update needs it: its id (which the
    update locks and reads the task by) and its flow, the one in hand."""
    key_field = _key_field(fields)
    if key_field is None:
        return None
    value = next((v for k, v in data.items() if str(k).strip().lower() == key_field.name.lower()), None)
    if is_empty(value):
        return None
    try:
        key = key_text(key_field, field_from_json(key_field, value, flow=flow, members={}))
    except ValueError:
        return None  # the create reports why the value is invalid
    return flow.tasks.filter(key=key).only("pk", "flow").first() if key else None


def task_delete(*, task: Task, actor: User | None, source: str = "api", depth: int = 0) -> None:
    _check_source(source)
    with transaction.atomic():
        locked = _lock(task)
        fields = flow_fields(flow=locked.flow)
        before = task_to_json(task=locked, fields=fields)
        changes = {
            name: [value, None]
            for name, value in before.items()
            if name not in ("Task URL", "id") and not is_empty(value) and value is not False
        }
        _record(locked, kind=TaskEvent.Kind.DELETED, changes=changes, actor=actor, source=source, depth=depth)
        locked.delete()


def task_set_stage(*, task: Task, actor: User | None, stage: Stage, source: str, depth: int = 0) -> Task:
    def build(locked: Task, fields: list[Field]) -> dict:
        if stage.flow_id != locked.flow_id:
            raise TaskValidationError({"Stage": ["is not a stage of this flow"]})
        return {"data": {}, "stage": stage}

    return _change(task=task, actor=actor, source=source, depth=depth, build=build)


def task_set_assignee(*, task: Task, actor: User | None, assignee: User | None, source: str, depth: int = 0) -> Task:
    def build(locked: Task, fields: list[Field]) -> dict:
        if (
            assignee is not None
            and not FlowMembership.objects.filter(flow_id=locked.flow_id, user=assignee, disabled=False).exists()
        ):
            raise TaskValidationError({"Assigned To": ["must be the email of a member of this flow"]})
        return {"data": {}, "assignee": assignee}

    return _change(task=task, actor=actor, source=source, depth=depth, build=build)


def task_add_tags(*, task: Task, actor: User | None, tags: list[str], source: str, depth: int = 0) -> Task:
    def build(locked: Task, fields: list[Field]) -> dict:
        try:
            merged = _clean_tags(list(locked.tags or []) + list(tags))
        except (ValueError, TypeError) as exc:
            raise TaskValidationError({"Tags": [str(exc)]})
        return {"data": {}, "tags": merged}

    return _change(task=task, actor=actor, source=source, depth=depth, build=build)


# --- comments and mentions ---------------------------------------------------------------------


def _mention_handles(flow: Flow) -> list[tuple[str, User]]:
    handles: list[tuple[str, User]] = []
    for membership in FlowMembership.objects.filter(flow=flow, disabled=False).select_related("user"):
        user = membership.user
        full = f"{user.first_name} {user.last_name}".strip()
        for handle in {user.nick.strip().lower(), full.lower() if user.first_name and user.last_name else ""}:
            if handle:
                handles.append((handle, user))
    # Longest first, so "@Ada Admin" beats a member whose nick is "ada".
    handles.sort(key=lambda item: -len(item[0]))
    return handles


def mentioned_users(*, flow: Flow, body: str) -> list[User]:
    """Members named by `@nick` or `@First Last` (case-insensitive, longest match wins)."""
    handles = _mention_handles(flow)
    found: dict[int, User] = {}
    lowered = body.lower()
    for match in re.finditer("@", body):
        start = match.start()
        if start > 0 and (body[start - 1].isalnum() or body[start - 1] in "._-+"):
            continue  # part of an email address
        rest = lowered[start + 1 :]
        for handle, user in handles:
            if rest.startswith(handle):
                after = rest[len(handle) : len(handle) + 1]
                if not after or not (after.isalnum() or after == "_"):
                    found.setdefault(user.pk, user)
                    break
    return list(found.values())


def comment_create(*, task: Task, author: User, body: str) -> Comment:
    if not isinstance(body, str) or not body.strip():
        raise TaskValidationError({"body": ["must not be empty"]})
    if len(body) > COMMENT_MAX:
        raise TaskValidationError({"body": [f"must be at most {COMMENT_MAX:,} characters"]})
    body = body.strip()
    flow = task.flow
    with transaction.atomic():
        comment = Comment.objects.create(task=task, author=author, body=body)
        mentioned = [user for user in mentioned_users(flow=flow, body=body) if user.pk != author.pk]
        Mention.objects.bulk_create([Mention(comment=comment, task=task, flow=flow, user=user) for user in mentioned])
        url = task_path(task=task)
        Notification.objects.bulk_create(
            [
                Notification(
                    user=user,
                    flow=flow,
                    task=task,
                    kind="mention",
                    message=f"{author.name} mentioned you on task {task.pk}",
                    url=url,
                )
                for user in mentioned
            ]
        )
    return comment


def mentions_mark_read(*, user: User, flow: Flow, task: Task | None = None) -> int:
    """The person has seen the flow (or one task): its mentions of them stop counting as unread."""
    mentions = Mention.objects.filter(user=user, flow=flow, read_at__isnull=True)
    if task is not None:
        mentions = mentions.filter(task=task)
    return mentions.update(read_at=timezone.now())


def notifications_mark_read(*, user: User, task_id: int, kind: str) -> int:
    """The person dismissed an alert about a task: their notifications of that kind about it are read."""
    return Notification.objects.filter(user=user, task_id=task_id, kind=kind, read_at__isnull=True).update(
        read_at=timezone.now()
    )
