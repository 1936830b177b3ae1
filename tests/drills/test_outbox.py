"""Outbox drills: task events reach the workflows whatever dies when. A real web server (gunicorn)
killed with SIGKILL right after its commits, before it rings anyone, and a real worker cluster
killed with SIGKILL in the middle of dispatching a backlog: every event still yields its runs
exactly once, in its task's order, and every run ends."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from actions.models import Run
from flows.models import Field
from tasks.models import Task, TaskEvent
from tasks.services import task_create, task_update
from tests.actions.test_worker import cluster  # noqa: F401 - the worker tests' fixture, shared
from tests.drills.test_drills import FAST, _alive, _free_port
from tests.factories import make_flow, token_for
from tests.receivers import wait_until
from workflows.models import Workflow, WorkflowAction

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Events nobody rang for are swept after a second.
OUTBOX = {**FAST, "EVENT_DISPATCH_GRACE_SECONDS": "1"}


class Outbox:
    """A leads flow with a webhook workflow on every kind of event it records (created, updated)."""

    def __init__(self, world, deliveries):
        self.world = world
        self.deliveries = deliveries
        self.leads = make_flow(world.org, world.admin, name="Outbox leads", module="leads")
        Field.objects.create(flow=self.leads, name="Company Name", type="text", position=0)
        self.workflows = []
        for trigger in ("lead_created", "lead_updated"):
            workflow = Workflow.objects.create(
                organization=world.org, flow=self.leads, name=trigger, trigger_module="leads", trigger_type=trigger
            )
            WorkflowAction.objects.create(
                workflow=workflow,
                action_type="webhook",
                config={"url": deliveries.url(f"/ok/{trigger}"), "maxAttempts": 5},
                sort_order=1,
            )
            self.workflows.append(workflow)

    def events(self):
        return TaskEvent.objects.filter(flow=self.leads)

    def account(self, *, timeout: float = 120) -> None:
        """Every event dispatched, its run started exactly once and ended in success, the runs of
        a task in its events' order, and each webhook delivered under one idempotency id."""
        events = list(self.events().order_by("pk"))
        assert events
        runs = Run.objects.filter(workflow__in=self.workflows)

        def settled() -> bool:
            return (
                not self.events().filter(dispatched_at__isnull=True).exists()
                and runs.count() >= len(events)
                and not runs.exclude(status__in=[Run.Status.SUCCESS, Run.Status.FAIL]).exists()
            )

        assert wait_until(settled, timeout=timeout, interval=0.2), (
            self.events().filter(dispatched_at__isnull=True).count(),
            runs.count(),
            len(events),
        )
        trigger = {"created": "lead_created", "updated": "lead_updated"}
        by_name = {workflow.name: workflow.pk for workflow in self.workflows}
        started = Counter((run.workflow_id, run.context["event"]["id"]) for run in runs)
        assert started == Counter({(by_name[trigger[event.kind]], event.pk): 1 for event in events})
        assert not [e.pk for e in events if e.dispatch_error]
        assert [(r.pk, r.errors) for r in runs if r.status != Run.Status.SUCCESS] == []
        for task in {event.task_ref for event in events}:
            order = [run.context["event"]["id"] for run in runs.filter(task_ref=task).order_by("pk")]
            assert order == sorted(order), f"task {task}'s runs started out of their events' order"
        keys = self.deliveries.keys()
        for run in runs:
            [step] = run.step_runs.all()
            assert keys[step.idempotency_key] >= 1, f"run {run.pk} never delivered"
        assert sum(keys.values()) >= len(events)
        assert set(keys) == {step.idempotency_key for run in runs for step in run.step_runs.all()}


def _post(port: int, path: str, token: str, body: dict) -> int | None:
    """The status, or None when the server died before answering."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        return conn.getresponse().status
    except (http.client.RemoteDisconnected, ConnectionError):
        return None
    finally:
        conn.close()


def test_web_killed_right_after_its_commits_loses_no_runs(world, drill_settings, deliveries, cluster):
    outbox = Outbox(world, deliveries)
    workers = cluster(**OUTBOX)
    port = _free_port()
    config = Path(__file__).with_name("gunicorn_die_after_commit.py")
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "flowsite.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "1"]
        + ["-c", str(config)],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "flowsite.settings_test", "ALLOWED_HOSTS": "127.0.0.1"}
        | {"DATABASE_URL": workers.env["DATABASE_URL"]},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    token = token_for(world.admin)
    path = f"/api/flows/{world.org.parameterized_name}/{outbox.leads.parameterized_name}/tasks"
    try:
        assert wait_until(lambda: _alive(port), timeout=30)
        # Each write commits, then its web worker dies before answering or ringing; gunicorn's
        # master starts another for the next request.
        answers = [_post(port, path, token, {"Company Name": f"Killed {n}"}) for n in range(4)]
        assert answers == [None] * 4
        assert outbox.events().count() == 4
        assert Task.objects.filter(flow=outbox.leads).count() == 4
    finally:
        os.killpg(web.pid, signal.SIGKILL)  # and the master too, mid-whatever
        web.wait(timeout=15)
    # Nobody rang for these four: the workers' sweep finds them.
    outbox.account()
    # And the next writes, from a process that lives to ring, go on from there.
    for task in Task.objects.filter(flow=outbox.leads):
        task_update(task=task, actor=world.admin, data={"Company Name": f"{task.pk} updated"})
    outbox.account()


def _hold(ready: threading.Event, release: threading.Event, task_id: int | None) -> None:
    """Another session holds what the dispatching worker needs next: on PostgreSQL a task's row
    (the runs a batch inserts for it are checked against it when the batch commits), on SQLite the
    one write lock (the worker's next transaction waits to begin)."""
    try:
        with transaction.atomic():
            if task_id is not None:
                list(Task.objects.select_for_update().filter(pk=task_id))
            else:
                TaskEvent.objects.filter(pk=0).update(depth=0)
            ready.set()
            release.wait(120)
    finally:
        connection.close()


def _blocked_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_worker_killed_mid_dispatch_dispatches_each_event_once(world, drill_settings, deliveries, cluster):
    outbox = Outbox(world, deliveries)
    # A backlog recorded while no worker runs: its doorbells wait in the queue.
    tasks = [task_create(flow=outbox.leads, actor=world.admin, data={"Company Name": f"Lead {n}"}) for n in range(40)]
    for task in tasks:
        task_update(task=task, actor=world.admin, data={"Company Name": f"{task.pk} updated"})
    total = outbox.events().count()
    assert total == 80
    postgres = connection.vendor == "postgresql"
    ready, release = threading.Event(), threading.Event()
    holder = None
    if postgres:
        # Held from the start: the batch holding this task's creation blocks at its commit.
        holder = threading.Thread(target=_hold, args=(ready, release, tasks[len(tasks) // 2].pk))
        holder.start()
        assert ready.wait(10)
    first = cluster(**OUTBOX, EVENT_DISPATCH_BATCH="4")
    try:
        dispatched = outbox.events().filter(dispatched_at__isnull=False)
        assert wait_until(lambda: dispatched.exists(), timeout=60), "the workers never dispatched"
        if postgres:
            assert wait_until(_blocked_on_a_lock, timeout=30), "no dispatch waited on the held task"
        else:
            holder = threading.Thread(target=_hold, args=(ready, release, None))
            holder.start()
            assert ready.wait(30)
            time.sleep(0.5)  # the workers are now waiting to begin their next transaction
        first.kill()  # kill -9 the whole cluster mid-dispatch
        left = total - dispatched.count()
        assert 0 < left < total, left
        if postgres:
            # The blocked batch died with its transaction: that task's events are all still to do.
            held = outbox.events().filter(task_ref=tasks[len(tasks) // 2].pk)
            assert not held.filter(dispatched_at__isnull=False).exists()
            assert not Run.objects.filter(task_ref=tasks[len(tasks) // 2].pk).exists()
    finally:
        release.set()
        if holder is not None:
            holder.join()
    cluster(**OUTBOX, EVENT_DISPATCH_BATCH="4")
    outbox.account()
