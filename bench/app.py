"""The Django side of the benchmarks: commands run inside Flowsite (same settings and database as the
web and worker processes) that prepare data and read results back from the run records.

    python -m bench.app setup RECEIVER_URL            -> JSON with ids, slugs, a token and a session cookie
    python -m bench.app fill-board FLOW_ID N          -> bulk-inserts tasks until the flow has N
    python -m bench.app board-queries ORG FLOW        -> queries the board page and the task list make
    python -m bench.app events FLOW_ID N              -> N new tasks and their "created" events in one commit
    python -m bench.app events-report FIRST LAST WF   -> when events FIRST..LAST were dispatched, WF's runs
    python -m bench.app wait-start FLOW_ID N SECONDS  -> N runs (one per task) that each wait SECONDS
    python -m bench.app wait-report RUN_IDS_FILE      -> lateness of each wait, in seconds
    python -m bench.app runs-report SINCE_RUN_ID      -> runs by status since a run id (drills)
    python -m bench.app relay-stages WF TASK_IDS_FILE -> per task: its event's commit and dispatch, WF's run's claim

Every command prints one JSON document on stdout.
"""

from __future__ import annotations

import json
import os
import sys


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flowsite.settings")
    import django

    django.setup()


def setup(receiver_url: str) -> dict:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from rest_framework.authtoken.models import Token

    from actions.services import action_create
    from flows.models import Field, Organization, OrganizationMembership
    from flows.services import flow_create, user_create
    from workflows.models import Workflow, WorkflowAction

    user = user_create(email="bench@example.com", password="bench-password-1", first_name="Bench")
    org = Organization.objects.create(name="Bench", parameterized_name="bench")
    OrganizationMembership.objects.create(organization=org, user=user, admin=True)

    def fields(flow, names):
        for position, name in enumerate(names):
            Field.objects.create(flow=flow, name=name, type="text", position=position)

    # Actions: one flow without a module (no workflow listens), a task to act on.
    from tasks.services import task_create

    ops = flow_create(user=user, organization=org, name="Ops")
    fields(ops, ["Company Name", "Note"])
    hop = action_create(
        flow=ops,
        actor=user,
        data={"name": "Hop", "steps": [{"type": "api_call", "config": {"url": f"{receiver_url}/ok/hop"}}]},
    )
    chain_steps = []
    for i in range(40):
        if i % 2 == 0:
            chain_steps.append({"type": "update_data", "config": {"values": {"Note": f"step {i}"}}})
        else:
            chain_steps.append({"type": "api_call", "config": {"url": f"{receiver_url}/ok/chain/{i}"}})
    chain = action_create(flow=ops, actor=user, data={"name": "Chain", "steps": chain_steps})
    hop_tasks = [task_create(flow=ops, actor=user, data={"Company Name": f"Hop {i}"}).pk for i in range(8)]

    # Burst: a leads flow whose lead_created workflow has one webhook step.
    leads = flow_create(user=user, organization=org, name="Leads", module="leads")
    fields(leads, ["Company Name", "Source"])
    burst = Workflow.objects.create(
        organization=org, flow=leads, name="Burst hook", trigger_module="leads", trigger_type="lead_created"
    )
    WorkflowAction.objects.create(
        workflow=burst, action_type="webhook", config={"url": f"{receiver_url}/ok/burst", "maxAttempts": 3}
    )

    # Relay: a tasks flow whose task_created workflow has one webhook step, fed through the Task API.
    relay = flow_create(user=user, organization=org, name="Relay", module="tasks")
    fields(relay, ["Company Name", "Source"])
    relay_hook = Workflow.objects.create(
        organization=org, flow=relay, name="Relay hook", trigger_module="tasks", trigger_type="task_created"
    )
    WorkflowAction.objects.create(
        workflow=relay_hook, action_type="webhook", config={"url": f"{receiver_url}/ok/relay", "maxAttempts": 3}
    )

    # Ingest: a projects flow; a workflow listens to another trigger, so matching is real work.
    projects = flow_create(user=user, organization=org, name="Projects", module="projects")
    fields(projects, ["Company Name", "Source", "Amount"])
    Workflow.objects.create(
        organization=org, flow=projects, name="On update", trigger_module="projects", trigger_type="project_updated"
    )

    # Board: a plain flow filled in bulk.
    board = flow_create(user=user, organization=org, name="Board")
    fields(board, ["Company Name", "Source", "Amount", "Owner", "Note"])

    token = Token.objects.create(user=user).key
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()

    from django_q.brokers import get_broker

    get_broker().purge_queue()  # a Redis list may hold doorbells from an earlier run
    return {
        "org": org.parameterized_name,
        "token": token,
        "session": session.session_key,
        "user_email": user.email,
        "ops": {"id": ops.pk, "slug": ops.parameterized_name, "hop": hop.pk, "chain": chain.pk, "tasks": hop_tasks},
        "leads": {"id": leads.pk, "slug": leads.parameterized_name, "workflow": str(burst.pk)},
        "relay": {"id": relay.pk, "slug": relay.parameterized_name, "workflow": str(relay_hook.pk)},
        "projects": {"id": projects.pk, "slug": projects.parameterized_name},
        "board": {"id": board.pk, "slug": board.parameterized_name},
    }


def fill_board(flow_id: str, total: int) -> dict:
    from django.db import transaction

    from flows.models import Flow
    from tasks.models import Task

    flow = Flow.objects.get(pk=flow_id)
    stages = list(flow.stages.order_by("position"))
    fields = list(flow.fields.order_by("position"))
    have = Task.objects.filter(flow=flow).count()
    batch = []
    for n in range(have, total):
        data = {str(f.pk): f"{f.name} {n}" for f in fields}
        batch.append(Task(flow=flow, stage=stages[n % len(stages)], data=data, tags=[]))
        if len(batch) >= 5000:
            with transaction.atomic():
                Task.objects.bulk_create(batch)
            batch = []
    if batch:
        with transaction.atomic():
            Task.objects.bulk_create(batch)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE tasks_task")
    return {"tasks": Task.objects.filter(flow=flow).count()}


def board_queries(org: str, flow: str) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from flows.models import User

    user = User.objects.get(email="bench@example.com")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    out = {}
    for name, url, kwargs in [
        ("board", f"/flows/{org}/{flow}", {}),
        ("tasks_api", f"/api/flows/{org}/{flow}/tasks", {}),
    ]:
        client.get(url, **kwargs)  # warm
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, **kwargs)
        out[name] = {"status": response.status_code, "queries": len(queries)}
    return out


def events(flow_id: str, count: int) -> dict:
    """A burst: N tasks created in one transaction, their N "created" events recorded in one insert
    through the task service, as an import or a bulk change records them. The events are an outbox:
    after the commit the service rings the dispatcher (the hook WorkflowsConfig.ready() subscribed)
    and nothing more; the workers match the events and create the runs. Returns the commit's time,
    the time the ring had been sent, and the tasks' and events' ids."""
    import time

    from django.db import transaction

    from flows.models import Flow
    from tasks.models import Task, TaskEvent
    from tasks.services import EVENTS_RECORDED_HOOKS, task_events_record
    from workflows.dispatch import events_enqueue

    if events_enqueue not in EVENTS_RECORDED_HOOKS:
        # Without the ring only the sweep (after its grace period) would find the events: the
        # figures would measure the sweeper, not the path a write takes.
        raise SystemExit("the workflows' doorbell is not subscribed to task events")
    flow = Flow.objects.get(pk=flow_id)
    stage = flow.stages.order_by("position", "id").first()
    name = flow.fields.get(name="Company Name")
    marks: dict = {}
    with transaction.atomic():
        tasks = Task.objects.bulk_create(
            [Task(flow=flow, stage=stage, data={str(name.pk): f"Event {i}"}, tags=[]) for i in range(count)]
        )
        # Registered before the service registers its ring, so it runs first: the moment the
        # events became visible.
        transaction.on_commit(lambda: marks.setdefault("committed", time.time()))
        items = [
            (task, TaskEvent.Kind.CREATED, {"Stage": [None, stage.name], "Company Name": [None, f"Event {i}"]})
            for i, task in enumerate(tasks)
        ]
        recorded = task_events_record(flow=flow, items=items, actor=None, source="api")
    event_ids = [event.pk for event in recorded]
    if None in event_ids:  # bulk_create returns ids on PostgreSQL and SQLite; this says if not
        raise SystemExit("the events' ids were not returned by their insert")
    return {
        "committed": marks["committed"],
        "rung": time.time(),  # the on_commit hooks, the ring among them, have run
        "tasks": [t.pk for t in tasks],
        "events": [min(event_ids), max(event_ids)],
    }


def events_report(first: int, last: int, workflow_id: str) -> dict:
    """When each of the events first..last was dispatched (its runs created in that transaction),
    how many are still pending or failed to match, and how many runs the workflow has for their tasks."""
    from actions.models import Run
    from tasks.models import TaskEvent

    rows = list(TaskEvent.objects.filter(pk__gte=first, pk__lte=last).values_list("task_ref", "dispatched_at"))
    dispatched = [at.timestamp() for _task, at in rows if at is not None]
    errors = TaskEvent.objects.filter(pk__gte=first, pk__lte=last).exclude(dispatch_error="").count()
    tasks = {task for task, _at in rows}
    runs = list(Run.objects.filter(workflow_id=workflow_id, task_ref__in=tasks).values_list("task_ref", flat=True))
    return {
        "events": len(rows),
        "dispatched": dispatched,
        "pending": len(rows) - len(dispatched),
        "dispatch_errors": errors,
        "runs": len(runs),
        "tasks_with_runs": len(set(runs)),
    }


def wait_start(flow_id: str, count: int, seconds: float) -> dict:
    from django.db import transaction

    from actions.engine import run_create
    from flows.models import Flow
    from tasks.models import Task

    flow = Flow.objects.get(pk=flow_id)
    tasks = list(Task.objects.filter(flow=flow).order_by("pk")[:count])
    program = [{"id": "wait", "type": "wait", "config": {"duration": seconds, "unit": "seconds"}}]
    ids = []
    # One run per task (runs on one task are serialized); each starts with its wait at once.
    with transaction.atomic():
        for task in tasks:
            run = run_create(kind="workflow", flow=flow, task=task, name="Wait", program=program)
            ids.append(run.pk)
    return {"runs": ids}


def wait_report(run_ids: list[int]) -> dict:
    from datetime import datetime

    from actions.models import Run, StepRun

    # Runs first, then their steps: a run's end and its last step's record commit together, so every
    # run counted as a success here has its wait's record read below. (The other way round, a run
    # ending between the two reads was counted with no lateness.)
    statuses: dict[str, int] = {}
    for status in Run.objects.filter(pk__in=run_ids).values_list("status", flat=True):
        statuses[status] = statuses.get(status, 0) + 1
    steps = StepRun.objects.filter(run_id__in=run_ids, path="0").values_list("output", "finished_at", "status")
    lateness = []
    for output, finished_at, status in steps:
        until = (output or {}).get("wait_until")
        if status == "success" and until and finished_at:
            lateness.append((finished_at - datetime.fromisoformat(until)).total_seconds())
    return {"lateness": lateness, "statuses": statuses}


def runs_report(since: int) -> dict:
    from actions.models import Run

    rows = Run.objects.filter(pk__gt=since).values_list("pk", "status", "errors")
    out: dict = {"total": 0, "by_status": {}, "failed": []}
    for pk, status, errors in rows:
        out["total"] += 1
        out["by_status"][status] = out["by_status"].get(status, 0) + 1
        if status == "fail":
            out["failed"].append([pk, errors])
    return out


def relay_stages(workflow_id: str, task_ids: list[int]) -> dict:
    """The relay's stages per task (epoch seconds): its "created" event's `created_at` (the write,
    just before its commit) and `dispatched_at` (the dispatch that created the run), and the
    workflow's run's `started_at` (its claim). The bench adds the receiver's arrival time."""
    from actions.models import Run
    from tasks.models import TaskEvent

    out: dict[str, dict] = {}
    events = TaskEvent.objects.filter(task_ref__in=task_ids, kind=TaskEvent.Kind.CREATED)
    for task, created, dispatched in events.values_list("task_ref", "created_at", "dispatched_at"):
        out[str(task)] = {"event": created.timestamp(), "dispatched": dispatched and dispatched.timestamp()}
    runs = Run.objects.filter(workflow_id=workflow_id, task_ref__in=task_ids)
    for task, started in runs.values_list("task_ref", "started_at"):
        out.setdefault(str(task), {})["claimed"] = started and started.timestamp()
    return out


def main(argv: list[str]) -> None:
    _django()
    command, args = argv[0], argv[1:]
    if command == "setup":
        result = setup(args[0])
    elif command == "fill-board":
        result = fill_board(args[0], int(args[1]))
    elif command == "board-queries":
        result = board_queries(args[0], args[1])
    elif command == "events":
        result = events(args[0], int(args[1]))
    elif command == "events-report":
        result = events_report(int(args[0]), int(args[1]), args[2])
    elif command == "wait-start":
        result = wait_start(args[0], int(args[1]), float(args[2]))
    elif command == "wait-report":
        with open(args[0]) as f:
            result = wait_report(json.load(f))
    elif command == "relay-stages":
        with open(args[1]) as f:
            result = relay_stages(args[0], json.load(f))
    elif command == "runs-report":
        result = runs_report(int(args[0]))
    else:
        raise SystemExit(f"unknown command {command}")
    sys.stdout.write(json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
