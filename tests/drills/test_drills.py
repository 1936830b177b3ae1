"""Fault drills with real `manage.py qcluster` processes (CI runs them; `make bench` runs the full
versions in bench/drills.py). Each ends by counting every run: succeeded, failed with a reason, or
missing — missing must be 0 — and checks that no side effect arrived twice under different ids."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from actions.models import Run
from tests.actions.test_worker import database_url
from tests.drills.proxy import FaultProxy
from tests.factories import token_for
from tests.receivers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FAST = {"RUN_LEASE_SECONDS": "3", "RUN_RERING_SECONDS": "1", "RUN_PENDING_GRACE_SECONDS": "1", "SWEEP_INTERVAL": "0.2"}


def assert_accounted(result: dict) -> None:
    assert result["missing"] == 0, result
    assert not result["stuck"], result
    assert not result["unexplained"], result
    assert not result["stray_keys"], result


def test_kill_9_worker_mid_load(world, drill_settings, deliveries, cluster):
    from tests.drills.conftest import Load

    load = Load(world, deliveries)
    first = cluster(**FAST)
    feeder = threading.Thread(target=load.steady, args=(40,))
    feeder.start()
    assert wait_until(lambda: len(deliveries.log) >= 8, timeout=30), "no delivery before the kill"
    first.kill()  # kill -9, sentinel and workers, mid-load
    cluster(**FAST)
    feeder.join()
    result = load.account(40)
    assert_accounted(result)
    assert result["succeeded"] == 40, result


def test_cluster_restart_while_runs_wait(world, drill_settings, deliveries, cluster):
    from tests.drills.conftest import Load

    wait = [{"type": "wait", "config": {"duration": 2, "unit": "seconds"}}]
    load = Load(world, deliveries, program_prefix=wait)
    first = cluster(**FAST)
    for n in range(12):
        load.workflow_run(n)
    assert wait_until(lambda: load.runs().filter(status=Run.Status.WAITING).count() == 12, timeout=30), (
        "the runs never parked in their wait"
    )
    first.stop()  # a clean restart of the whole cluster while every run waits
    assert not deliveries.log
    cluster(**FAST)
    result = load.account(12)
    assert_accounted(result)
    assert result["succeeded"] == 12, result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="a database outage drill for PostgreSQL"
)
def test_database_outage_mid_load(world, drill_settings, deliveries, cluster):
    """PostgreSQL goes away for a few seconds (through a loopback proxy the drill cuts): the web
    answers 503, not a 500 page; the workers ride it out and every run ends."""
    from tests.drills.conftest import Load

    db = connection.settings_dict
    proxy = FaultProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)).start()
    via_proxy = database_url().replace(f"{db['HOST']}:{db['PORT'] or 5432}", f"127.0.0.1:{proxy.port}")
    load = Load(world, deliveries)
    workers = cluster(DATABASE_URL=via_proxy, **FAST)
    port = _free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "flowsite.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "1"],
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "flowsite.settings_test",
            "DATABASE_URL": via_proxy,
            "ALLOWED_HOSTS": "127.0.0.1",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    token = token_for(world.admin)
    path = f"/api/flows/{world.org.parameterized_name}/{load.leads.parameterized_name}/tasks"
    try:
        assert wait_until(lambda: _alive(port), timeout=30)
        assert _get(port, path, token) == 200
        feeder = threading.Thread(target=load.steady, args=(30, 0.05))
        feeder.start()
        assert wait_until(lambda: len(deliveries.log) >= 5, timeout=30)
        proxy.cut()
        statuses = set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            statuses.add(_get(port, path, token))
            time.sleep(0.2)
        proxy.restore()
        feeder.join()
        assert statuses == {503}, statuses
        assert wait_until(lambda: _get(port, path, token) == 200, timeout=30)
        result = load.account(30)
        assert_accounted(result)
    finally:
        os.killpg(web.pid, 15)
        web.wait(timeout=15)
        workers.stop()  # while the database is still reachable through the proxy: a quick, clean stop
        proxy.stop()


def _alive(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_bad_receivers_do_not_slow_healthy_workflows(world, drill_settings, deliveries, cluster):
    """A receiver that hangs, one that answers slowly, one that answers 10 MB and one that resets:
    healthy workflows' p99 latency stays under twice what it is without them."""
    from tests.drills.conftest import Load
    from workflows.models import Workflow, WorkflowAction

    load = Load(world, deliveries)
    env = {**FAST, "Q_WORKERS": "4", "OUTBOUND_TOTAL_TIMEOUT": "3", "RUN_LEASE_SECONDS": "10"}
    cluster(**env)

    def healthy_p99(prefix: str, count: int = 15) -> float:
        start = len(deliveries.log)
        tasks = []
        for n in range(count):
            tasks.append(load.workflow_run(n, prefix))
            time.sleep(0.1)
        assert wait_until(lambda: len(_healthy(deliveries, start)) >= count, timeout=60)
        arrived = sorted(_healthy(deliveries, start))
        created = sorted(load.created_at[t] for t in tasks)
        latencies = sorted(a - c for a, c in zip(arrived, created, strict=True))
        return latencies[int(0.99 * (len(latencies) - 1))]

    healthy_p99("Warm", 4)
    baseline = healthy_p99("Before")
    # The bad receivers' workflows listen on another flow, so their runs are on other tasks (runs on
    # one task are serialized by design) and every kind is in flight beside the healthy load.
    from tasks.services import task_create
    from tests.factories import make_flow

    bad_flow = make_flow(world.org, world.admin, name="Bad leads", module="leads")
    for kind in ["hang", "slow", "big", "reset"]:
        bad = Workflow.objects.create(
            organization=world.org,
            flow=bad_flow,
            name=f"{kind} hook",
            trigger_module="leads",
            trigger_type="lead_created",
        )
        WorkflowAction.objects.create(
            workflow=bad, action_type="webhook", config={"url": deliveries.url(f"/{kind}/hook"), "maxAttempts": 1}
        )
    stop = threading.Event()

    def bad_load():
        n = 0
        while not stop.is_set():
            task_create(flow=bad_flow, actor=world.admin, data={"Stage": "To Do"})
            n += 1
            stop.wait(1.5)
        connection.close()

    feeder = threading.Thread(target=bad_load)
    feeder.start()
    try:
        time.sleep(0.5)
        degraded = healthy_p99("During")
    finally:
        stop.set()
        feeder.join()
    # Loopback latencies are milliseconds; 50 ms of slack keeps scheduler noise out of the ratio.
    assert degraded < 2 * baseline + 0.05, (baseline, degraded)
    result = load.account(Run.objects.filter(pk__gt=load.started).count(), timeout=60)
    assert_accounted(result)


def _healthy(deliveries, start: int) -> list[float]:
    with deliveries.lock:
        return [t for t, path, _ in deliveries.log[start:] if path == "/ok/hook"]
