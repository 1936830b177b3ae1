"""Pages for tasks: the board, the new-task form, the task page and the notifications page.

Thin: forms collect input, tasks.services validate and write, templates render. One template per
screen; an HTMX request gets a named partial of that template.
"""

import json
import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import F, Func, Q, QuerySet, TextField
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from flows.models import Field, Flow, Stage, User
from flows.selectors import flow_can_read, flow_get, flow_member_get, flow_members
from flowsite.bounds import PAGE_MAX, bounded_int, id_or_none
from flowsite.humane import format_number
from tasks import selectors, services
from tasks.extensions import action_list, buttons_context, failed_runs
from tasks.forms import ASSIGNEE, STAGE, TAGS, TaskCreateForm, ValueForm, add_service_errors, json_to_initial
from tasks.identity import task_identity
from tasks.models import Task, TaskEvent
from tasks.schema import field_list, stage_list
from tasks.values import T, TaskValidationError, field_to_json

PAGE_SIZE = 50
CARD_FIELDS = 3
SEARCH_MAX = 200


# --- shared helpers ----------------------------------------------------------------------------


def _display(value: Any, kind: str | None = None) -> str:
    """A Task API JSON value as people read it: numbers with thousands separators, currency with cents."""
    if value is None or value == [] or value == "":
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if kind == T.NUMBER:
        return format_number(value)
    if kind == T.CURRENCY:
        return format_number(value, 2)
    if isinstance(value, list):
        return ", ".join(item.get("filename", "") if isinstance(item, dict) else str(item) for item in value)
    return str(value)


def _members(flow: Flow) -> list[User]:
    """People who may be assigned or named in a person field: the flow's active members."""
    return [m.user for m in flow_members(flow=flow) if not m.disabled and m.user.is_active]


def _flow_url(name: str, flow: Flow, *args) -> str:
    return reverse(name, args=[flow.organization.parameterized_name, flow.parameterized_name, *args])


# --- board reads -------------------------------------------------------------------------------
# Board-specific reads, kept beside the board: they shape a page, not the Task API.


class JsonKeyText(Func):
    """One value of a JSON object column as text, with the key always an object key (Field ids look like
    array indexes to Django's own `data__12` lookups). SQLite and PostgreSQL, like tasks.selectors."""

    output_field = TextField()

    def __init__(self, column: str, *, key: str):
        super().__init__(F(column))
        self.key = key

    def as_sqlite(self, compiler, connection, **extra_context):
        lhs, params = compiler.compile(self.source_expressions[0])
        return f"JSON_EXTRACT({lhs}, %s)", (*params, "$." + json.dumps(self.key))

    def as_postgresql(self, compiler, connection, **extra_context):
        lhs, params = compiler.compile(self.source_expressions[0])
        return f"({lhs} ->> %s::text)", (*params, self.key)


def _board_queryset(*, flow: Flow, fields: list[Field], assignee: str, q: str) -> QuerySet[Task]:
    qs = Task.objects.filter(flow=flow)
    if assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee.isdigit():
        assignee_id = id_or_none(assignee)
        qs = qs.filter(assignee_id=assignee_id) if assignee_id is not None else qs.none()
    if q:
        # Searched in SQL, value by value (not the whole JSON text, whose keys are field ids).
        searchable = [f for f in fields if f.type not in (T.CHECKBOX, T.FILE)]
        aliases = {f"_search_{f.pk}": JsonKeyText("data", key=str(f.pk)) for f in searchable}
        condition = Q(key__icontains=q)
        for name in aliases:
            condition |= Q(**{f"{name}__icontains": q})
        qs = qs.alias(**aliases).filter(condition)
    return qs


# Counting every task of a 100,000-task column costs more than the rest of the board together, so
# a column counts up to COUNT_CAP and shows "10,000+" beyond (Column.count_label).
COUNT_CAP = 10_000


def _stage_counts(qs: QuerySet[Task], stages: list[Stage]) -> dict[int, int]:
    return {stage.pk: qs.filter(stage=stage).order_by()[: COUNT_CAP + 1].count() for stage in stages}


def _count_label(count: int) -> str:
    return f"{COUNT_CAP:,}+" if count > COUNT_CAP else f"{count:,}"


def _truncate(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass
class Column:
    stage: Stage
    count: int
    tasks: list[Task] = dc_field(default_factory=list)
    shown_to: int = 0  # how many cards are on the page once this batch is in
    more_url: str = ""

    @property
    def count_label(self) -> str:
        return _count_label(self.count)


class Board:
    """What the board shows for one request: the filters, the schema, the actions by stage."""

    def __init__(self, request, flow: Flow):
        self.request, self.flow = request, flow
        params = request.GET
        self.q = params.get("q", "").strip()[:SEARCH_MAX]
        self.assignee = params.get("assignee", "").strip()
        self.fields = field_list(flow=flow)
        self.stages = stage_list(flow=flow)
        self.key_field = next((f for f in self.fields if f.unique), None)
        self.card_fields = [f for f in self.fields if not f.unique][:CARD_FIELDS]
        actions = list(action_list(flow=flow))
        # Availability depends on the stage alone, so it is worked out once per stage, not per card.
        self.actions_by_stage = {
            stage.pk: [a for a in actions if not a.from_stages.all() or stage.pk in {s.pk for s in a.from_stages.all()}]
            for stage in self.stages
        }
        self.url = _flow_url("flow_board", flow)

    @cached_property
    def failed_runs(self) -> dict:
        """The viewer's failed runs they have not dismissed, by task: their cards keep the alert."""
        return failed_runs(user=self.request.user, flow=self.flow)

    @cached_property
    def queryset(self) -> QuerySet[Task]:
        return _board_queryset(flow=self.flow, fields=self.fields, assignee=self.assignee, q=self.q)

    @cached_property
    def counts(self) -> dict[int, int]:
        return _stage_counts(self.queryset, self.stages)

    @property
    def filter_query(self) -> str:
        return urlencode({k: v for k, v in (("q", self.q), ("assignee", self.assignee)) if v})

    def decorate(self, task: Task, stage: Stage) -> Task:
        task.stage = stage
        data = task.data or {}
        task.card_key = task_identity(task)
        task.card_values = [
            (field, _truncate(_display(field_to_json(field, data.get(str(field.pk))), field.type)))
            for field in self.card_fields
        ]
        task.card_actions = self.actions_by_stage.get(stage.pk, [])
        return task

    def column(self, stage: Stage, *, start: int, stop: int) -> Column:
        tasks = list(self.queryset.filter(stage=stage).select_related("assignee").order_by("-id")[start:stop])
        column = Column(stage=stage, count=self.counts.get(stage.pk, 0), tasks=[self.decorate(t, stage) for t in tasks])
        for task in column.tasks:
            task.card_failed = self.failed_runs.get(task.pk)
        column.shown_to = start + len(tasks)
        if column.count > column.shown_to:
            page = column.shown_to // PAGE_SIZE + 1
            query = "&".join(filter(None, [self.filter_query, f"stage={stage.pk}&page={page}"]))
            column.more_url = f"{self.url}?{query}"
        return column

    def columns(self, *, stage_id: int | None = None, page: int = 1) -> list[Column]:
        # Without JavaScript "Load more" reloads the board with that column showing `page` pages.
        return [
            self.column(stage, start=0, stop=PAGE_SIZE * (page if stage.pk == stage_id else 1)) for stage in self.stages
        ]

    def context(self, **extra) -> dict:
        return {
            "flow": self.flow,
            "board": self,
            "members": _members(self.flow),
            "board_url": self.url,
            **extra,
        }


def _int(value: Any, default: int | None = None) -> int | None:
    # Ids and page numbers from the query string: beyond their bounds they are as good as absent.
    try:
        return bounded_int(value, maximum=PAGE_MAX)
    except ValueError:
        return default


def _create_form(flow: Flow, board: Board, data=None, files=None, initial=None) -> TaskCreateForm:
    return TaskCreateForm(
        data, files, schema=board.fields, stages=board.stages, members=_members(flow), initial=initial
    )


@login_required
def flow_board(request, org, flow):
    found = flow_get(user=request.user, org_slug=org, flow_slug=flow)
    if not flow_can_read(user=request.user, flow=found):
        return render(request, "flows/flow_join_prompt.html", {"flow": found})
    return board(request, found)


def board(request, flow: Flow):
    """The board: a column per stage, filters, the new-task form. Called by flow_board after its
    access checks."""
    view = Board(request, flow)
    stage_id, page = _int(request.GET.get("stage")), max(_int(request.GET.get("page"), 1) or 1, 1)
    if request.htmx and not request.htmx.history_restore_request:
        if stage_id is not None and request.GET.get("page"):
            stage = next((s for s in view.stages if s.pk == stage_id), None)
            if stage is None:
                return HttpResponse(status=404)
            column = view.column(stage, start=(page - 1) * PAGE_SIZE, stop=page * PAGE_SIZE)
            return render(request, "tasks/board.html#cards", view.context(column=column))
        return render(request, "tasks/board.html#columns", view.context(columns=view.columns()))
    # Opening the board is seeing the flow: its mentions of the viewer stop counting as unread.
    services.mentions_mark_read(user=request.user, flow=flow)
    context = view.context(columns=view.columns(stage_id=stage_id, page=page), new_form=None)
    return render(request, "tasks/board.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def task_new(request, org, flow):
    """The new-task form: opens inline on the board (HTMX) or as the board with the form open."""
    found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
    view = Board(request, found)
    if request.method == "GET" and request.GET.get("close"):
        return render(request, "tasks/board.html#new_task", view.context(new_form=None))
    initial = {"stage": _int(request.GET.get("stage"))} if request.GET.get("stage") else None
    form = _create_form(found, view, request.POST or None, request.FILES or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                task = services.task_create(flow=found, actor=request.user, data=form.task_json(), source="web")
            except TaskValidationError as exc:
                add_service_errors(form, exc.errors, form.names())
            else:
                if not request.htmx:
                    messages.success(request, f"Task {task.pk} created.")
                    return redirect(view.url)
                return _created_response(request, view, task)
        status = 422
    if request.htmx:
        # 200 so htmx swaps the form in with its reasons; the plain form answers 422.
        return render(request, "tasks/board.html#new_task", view.context(new_form=form))
    services.mentions_mark_read(user=request.user, flow=found)
    context = view.context(columns=view.columns(), new_form=form)
    return render(request, "tasks/board.html", context, status=status)


def _created_response(request, view: Board, task: Task) -> HttpResponse:
    """The closed form with a note, plus the new card at the top of its column and the new count."""
    task = Task.objects.select_related("assignee", "stage").get(pk=task.pk)
    stage = task.stage
    count = _count_label(Task.objects.filter(flow=view.flow, stage=stage)[: COUNT_CAP + 1].count())
    context = view.context(new_form=None, created=task, card_task=view.decorate(task, stage), stage=stage, count=count)
    html = render_to_string("tasks/board.html#new_task", context, request=request)
    html += render_to_string("tasks/board.html#created_oob", context, request=request)
    return HttpResponse(html)


# --- the task page -----------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the task's fields panel: a field or a built-in, shown or being edited."""

    key: str
    label: str
    value: Any
    display: str
    editable: bool
    kind: str = ""
    href: str = ""
    hint: str = ""
    form: ValueForm | None = None
    errors: list[str] = dc_field(default_factory=list)


def _field_rows(task: Task, fields: list[Field]) -> list[Row]:
    rows = [
        Row(STAGE, "Stage", task.stage.name, task.stage.name, True, kind="stage"),
        Row(
            ASSIGNEE,
            "Assigned To",
            task.assignee.email if task.assignee_id else None,
            task.assignee.name if task.assignee_id else "",
            True,
            kind="person",
        ),
    ]
    data = task.data or {}
    for field in fields:
        value = field_to_json(field, data.get(str(field.pk)))
        row = Row(str(field.pk), field.name, value, _display(value, field.type), field.editable, kind=field.type)
        if field.type == T.URL and value:
            row.href = value
        elif field.type == T.EMAIL and value:
            row.href = f"mailto:{value}"
        if field.type == T.UNIQUE_ID:
            row.hint = "numbered automatically"
        elif not field.editable:
            row.hint = "set by actions and the API"
        rows.append(row)
    rows.append(Row(TAGS, "Tags", list(task.tags or []), ", ".join(task.tags or []), True, kind="tags"))
    return rows


class TaskPage:
    """What the task page and its partials need about one task."""

    def __init__(self, request, org: str, flow: str, task_id):
        self.request = request
        self.flow = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        self.task = selectors.task_get(flow=self.flow, task_id=task_id)
        self.fields = field_list(flow=self.flow)

    @cached_property
    def stages(self) -> list[Stage]:
        return stage_list(flow=self.flow)

    @cached_property
    def members(self) -> list[User]:
        return _members(self.flow)

    def rows(self) -> list[Row]:
        return _field_rows(self.task, self.fields)

    def row(self, key: str) -> Row:
        row = next((r for r in self.rows() if r.key == key), None)
        if row is None:
            raise Http404
        return row

    def form(self, row: Row, data=None, files=None) -> ValueForm:
        field = next((f for f in self.fields if str(f.pk) == row.key), None)
        if row.key == STAGE:
            initial = self.task.stage_id
        elif row.key == TAGS:
            initial = ", ".join(row.value)
        else:
            initial = json_to_initial(field, row.value) if field else row.value
        return ValueForm(
            data,
            files,
            key=row.key,
            field=field,
            stages=self.stages,
            members=self.members,
            initial={"value": initial},
        )

    def url(self, name: str, *args) -> str:
        return _flow_url(name, self.flow, self.task.pk, *args)

    def history(self) -> list[TaskEvent]:
        events = TaskEvent.objects.filter(flow=self.flow, task_ref=self.task.pk).select_related("actor")
        events = list(events.order_by("-id")[:200])
        kinds = {field.name: field.type for field in self.fields}  # numbers as the Details show them
        for event in events:
            event.lines = [
                (name, _history_value(change[0], kinds.get(name)), _history_value(change[1], kinds.get(name)))
                for name, change in (event.changes or {}).items()
                if isinstance(change, list | tuple) and len(change) == 2
            ]
        return events

    def comments(self) -> list:
        handles = _mention_handles(self.members)
        comments = list(selectors.comment_list(task=self.task))
        for comment in comments:
            comment.html = _comment_html(comment.body, handles)
        return comments

    def buttons_context(self) -> dict:
        return buttons_context(flow=self.flow, task=self.task, user=self.request.user)

    def context(self, **extra) -> dict:
        return {
            "flow": self.flow,
            "task": self.task,
            "page": self,
            "fields_url": self.url("task_fields"),
            **extra,
        }


def _history_value(value: Any, kind: str | None = None) -> str:
    shown = _display(value, kind)
    return shown if shown else "empty"


def _mention_handles(members: list[User]) -> list[str]:
    """The names a comment may mention people by (as tasks.services reads them), longest first."""
    handles = set()
    for user in members:
        if user.nick.strip():
            handles.add(user.nick.strip())
        if user.first_name and user.last_name:
            handles.add(f"{user.first_name} {user.last_name}".strip())
    return sorted(handles, key=len, reverse=True)


def _comment_html(body: str, handles: list[str]):
    text = escape(body)
    if handles:
        pattern = "|".join(re.escape(escape(h)) for h in handles)
        text = re.sub(
            rf"(?<![\w.+\-])@({pattern})(?![\w])",
            lambda m: f'<mark class="mention">@{m.group(1)}</mark>',
            text,
            flags=re.IGNORECASE,
        )
    return mark_safe(text.replace("\n", "<br>"))


@login_required
@require_GET
def task_detail(request, org, flow, task_id):
    """The task page; `?edit=<row>` opens one value's editor (so editing works without JavaScript).
    Opening it marks the task's mentions of the viewer read."""
    page = TaskPage(request, org, flow, task_id)
    services.mentions_mark_read(user=request.user, flow=page.flow, task=page.task)
    return _task_page(request, page, edit=request.GET.get("edit", ""))


def _task_page(request, page: TaskPage, *, edit: str = "", edit_form=None, errors=None, status=200, **extra):
    rows = page.rows()
    for row in rows:
        if row.key == edit and row.editable:
            row.form = edit_form or page.form(row)
            row.errors = errors or []
    context = page.context(
        rows=rows,
        events=page.history(),
        comments=page.comments(),
        **page.buttons_context(),
        **extra,
    )
    return render(request, "tasks/task_detail.html", context, status=status)


@login_required
@require_GET
def task_fields(request, org, flow, task_id):
    """The fields panel alone: the task page fetches it on `task-updated` (an action run ended)."""
    page = TaskPage(request, org, flow, task_id)
    return render(request, "tasks/task_detail.html#fields", page.context(rows=page.rows()))


@login_required
@require_GET
def task_buttons(request, org, flow, task_id):
    """The action buttons alone: which actions are available changes with the stage."""
    page = TaskPage(request, org, flow, task_id)
    return render(request, "tasks/task_detail.html#buttons", page.context(**page.buttons_context()))


@login_required
@require_GET
def task_history(request, org, flow, task_id):
    page = TaskPage(request, org, flow, task_id)
    return render(request, "tasks/task_detail.html#history", page.context(events=page.history()))


@login_required
@require_http_methods(["GET", "POST"])
def task_field(request, org, flow, task_id, key):
    """One value of the task, edited in place: GET shows it (?edit=1: its input), POST saves it."""
    page = TaskPage(request, org, flow, task_id)
    row = page.row(key)
    if request.method == "GET":
        if request.GET.get("edit") and row.editable:
            row.form = page.form(row)
        return render(request, "tasks/task_detail.html#row", page.context(row=row))
    if not row.editable:
        errors = [f"{row.label} cannot be edited here."]
        form = page.form(row)
    else:
        form = page.form(row, request.POST, request.FILES)
        errors = []
        if form.is_valid():
            try:
                services.task_update(task=page.task, actor=request.user, data=form.task_json(row.value), source="web")
            except TaskValidationError as exc:
                errors = exc.errors.get(form.json_name) or [
                    f"{name}: {reason}" for name, reasons in exc.errors.items() for reason in reasons
                ]
            else:
                if not request.htmx:
                    return redirect(page.url("task_detail"))
                page.task = selectors.task_get(flow=page.flow, task_id=page.task.pk)
                response = render(request, "tasks/task_detail.html#row", page.context(row=page.row(key)))
                # History and the available actions follow the change.
                return trigger_client_event(response, "task-changed", {"task": page.task.pk})
        else:
            errors = [reason for reasons in form.errors.values() for reason in reasons]
    if request.htmx:
        row.form, row.errors = form, errors
        return render(request, "tasks/task_detail.html#row", page.context(row=row))
    return _task_page(request, page, edit=key, edit_form=form, errors=errors, status=422)


@login_required
@require_POST
def task_comment(request, org, flow, task_id):
    """Add a comment; HTMX gets a fresh form plus the comment appended to the list."""
    page = TaskPage(request, org, flow, task_id)
    body = request.POST.get("body", "")
    try:
        comment = services.comment_create(task=page.task, author=request.user, body=body)
    except TaskValidationError as exc:
        errors = [reason for reasons in exc.errors.values() for reason in reasons]
        if request.htmx:
            context = page.context(comment_errors=errors, body=body)
            return render(request, "tasks/task_detail.html#comment_form", context)
        return _task_page(request, page, comment_errors=errors, body=body, status=422)
    if not request.htmx:
        return redirect(page.url("task_detail") + f"#comment-{comment.pk}")
    comment = next(c for c in page.comments() if c.pk == comment.pk)
    context = page.context(comment=comment)
    html = render_to_string("tasks/task_detail.html#comment_form", context, request=request)
    html += render_to_string("tasks/task_detail.html#comment_oob", context, request=request)
    return HttpResponse(html)


@login_required
@require_http_methods(["GET", "POST"])
def task_delete(request, org, flow, task_id):
    """GET asks for confirmation (the page without JavaScript); POST deletes and goes back to the board."""
    page = TaskPage(request, org, flow, task_id)
    if request.method == "GET":
        return render(request, "tasks/task_delete.html", page.context())
    services.task_delete(task=page.task, actor=request.user, source="web")
    messages.success(request, f"Task {task_id} deleted.")
    board_url = _flow_url("flow_board", page.flow)
    if request.htmx:
        return HttpResponseClientRedirect(board_url)
    return redirect(board_url)


# --- notifications -----------------------------------------------------------------------------


@login_required
@require_GET
def notifications(request):
    """The person's notifications, newest first; opening the page marks them read."""
    visible = selectors.notification_list(user=request.user)
    items = list(visible.select_related("flow__organization", "task").order_by("-id")[:200])
    for item in items:
        item.was_unread = item.read_at is None
    visible.filter(read_at__isnull=True).update(read_at=timezone.now())
    return render(request, "tasks/notifications.html", {"items": items, "notifications_unread": 0})
