"""The engine with real `manage.py qcluster` processes: a kill -9 mid-run, and concurrent
actions on one task. Slow by nature; CI runs them."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from actions.models import Run
from actions.services import action_perform
from tasks.models import Task, TaskEvent
from tasks.services import task_to_json
from tests.receivers import Receiver, Reply, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


class Cluster:
    def __init__(self, **env):
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "flowsite.settings_test",
            "DATABASE_URL": database_url(),
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/32",
            "RUN_LEASE_SECONDS": "3",
            "RUN_RERING_SECONDS": "2",
            "RUN_PENDING_GRACE_SECONDS": "1",
            "Q_WORKERS": "2",
            **env,
        }
        self.process = None
        # The cluster's log: printed when the test ends, which pytest shows for a failed test.
        self.log = tempfile.TemporaryFile()

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=settings.BASE_DIR,
            env=self.env,
            start_new_session=True,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        return self

    def print_log_tail(self, limit: int = 20000) -> None:
        self.log.seek(0, os.SEEK_END)
        self.log.seek(max(0, self.log.tell() - limit))
        print(f"--- qcluster {self.process.pid if self.process else '-'} log (tail) ---")
        print(self.log.read().decode(errors="replace"))
        self.log.close()

    def kill(self):
        """kill -9 the whole cluster: sentinel and workers, mid-whatever."""
        self._signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._wait_for_group(10)

    def stop(self):
        if self.process is None:
            return
        # The cluster's main process only: it stops its own children in order. A SIGTERM to the
        # whole group reaches them first and the cluster then waits for them until it is killed.
        try:
            self.process.terminate()
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        # The workers may outlive the cluster's main process for a moment; their database sessions
        # go with them, so wait for the whole group (or kill it) before the test database is dropped.
        if not self._wait_for_group(10):
            self.kill()

    def _signal(self, sig):
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def _wait_for_group(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _live_members(self.process.pid):
                return True
            time.sleep(0.05)
        return False


def _live_members(group: int) -> list[int]:
    """Processes of a process group that are still running (zombies waiting to be reaped hold
    no database session, so they do not count)."""
    live = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state != "Z":
            live.append(int(entry))
    return live


@pytest.fixture
def cluster():
    started = []

    def start(**env):
        c = Cluster(**env).start()
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()
        c.print_log_tail()


def test_worker_killed_mid_run_completes_once(seed, cluster):
    first_call = threading.Event()
    release = threading.Event()

    def handler(req):
        if not first_call.is_set():
            first_call.set()
            release.wait(20)  # the worker is killed while we hold its request
            return Reply(500)
        return Reply(200, json.dumps({"task": {"Company Name": "Recovered"}}).encode())

    with Receiver(handler=handler) as receiver:
        action = seed.action("Sync", [{"type": "api_call", "config": {"url": receiver.url}}])
        first = cluster()
        run = action_perform(action=action, task=seed.task, actor=seed.world.flow_member)
        assert first_call.wait(30), "the worker never called the receiver"
        first.kill()
        release.set()
        cluster()
        assert wait_until(lambda: Run.objects.get(pk=run.pk).is_finished, timeout=60)
        run.refresh_from_db()
        assert run.status == Run.Status.SUCCESS, run.errors
        keys = [r.headers["Idempotency-Key"] for r in receiver.requests]
        assert len(keys) == 2 and keys[0] == keys[1]
        assert run.step_runs.get().attempts == 2
    task = Task.objects.get(pk=seed.task.pk)
    assert task_to_json(task=task)["Company Name"] == "Recovered"
    assert TaskEvent.objects.filter(task=task, source="action").count() == 1


def test_concurrent_actions_on_one_task_are_serialized(seed, cluster):
    lock = threading.Lock()
    active = {"now": 0, "max": 0}
    fields = ["Company Name", "Expected Close Date", "Number of Employees", "Contract Value", "International?"]
    values = ["Serial Co", "2021-03-04", "77", "123.5", True]

    def handler(req):
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(0.2)
        index = int(req.path.strip("/"))
        with lock:
            active["now"] -= 1
        return Reply(200, json.dumps({"task": {fields[index]: values[index]}}).encode())

    with Receiver(handler=handler) as receiver:
        actions = [
            seed.action(f"Set {i}", [{"type": "api_call", "config": {"url": receiver.url_for(f"/{i}")}}])
            for i in range(len(fields))
        ]
        cluster(Q_WORKERS="4")
        runs = [action_perform(action=a, task=seed.task, actor=seed.world.flow_member) for a in actions]
        assert wait_until(lambda: all(Run.objects.get(pk=r.pk).is_finished for r in runs), timeout=60)
    assert [Run.objects.get(pk=r.pk).status for r in runs] == ["success"] * len(runs)
    assert active["max"] == 1, "two runs on one task overlapped"
    task = task_to_json(task=Task.objects.get(pk=seed.task.pk))
    assert [task[f] for f in fields] == ["Serial Co", "2021-03-04", "77", "123.5", True]
