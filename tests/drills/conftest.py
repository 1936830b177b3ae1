"""Fault drills: a steady load of actions and workflows against loopback receivers, a fault in the
middle, and at the end every run counted as succeeded, failed with a reason, or missing (must be 0).
No step's side effect may reach a receiver twice under different idempotency ids."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from actions.models import Run
from actions.services import action_create
from flows.models import Field
from tasks.services import task_create
from tests.actions.test_worker import cluster  # noqa: F401 - the worker tests' fixture, shared
from tests.factories import make_flow
from tests.receivers import Receiver, Reply, hang, reset_connection, wait_until
from workflows.models import Workflow, WorkflowAction

BIG = b"x" * (10 * 1024 * 1024)


class Deliveries:
    """A loopback receiver that answers by path and records (time, path, idempotency key)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.log: list[tuple[float, str, str]] = []
        self.receiver = Receiver(handler=self.handle)

    def handle(self, req):
        with self.lock:
            self.log.append((time.time(), req.path, req.headers.get("Idempotency-Key", "")))
        kind = req.path.strip("/").split("/")[0]
        if kind == "hang":
            return hang(req)
        if kind == "reset":
            return reset_connection(req)
        if kind == "slow":
            return Reply(200, b"{}", delay=0.5)
        if kind == "big":
            return Reply(200, BIG)
        return Reply(200, b"{}")

    def url(self, path: str) -> str:
        return self.receiver.url_for(path)

    def keys(self) -> Counter:
        with self.lock:
            return Counter(key for _, _, key in self.log)

    def __enter__(self):
        self.receiver.start()
        return self

    def __exit__(self, *exc):
        self.receiver.stop()


class Load:
    """Actions (API Call) on their own tasks and workflows (webhook) fired by task events."""

    def __init__(self, world, deliveries: Deliveries, *, program_prefix: list[dict] | None = None):
        self.world = world
        self.deliveries = deliveries
        admin = world.admin
        self.ops = make_flow(world.org, admin, name="Drill ops")
        Field.objects.create(flow=self.ops, name="Company Name", type="text", position=0)
        self.action = action_create(
            flow=self.ops,
            actor=admin,
            data={
                "name": "Drill call",
                "from_stages": [],
                "steps": [{"type": "api_call", "config": {"url": deliveries.url("/ok/action")}}],
            },
        )
        self.leads = make_flow(world.org, admin, name="Drill leads", module="leads")
        Field.objects.create(flow=self.leads, name="Company Name", type="text", position=0)
        self.workflow = Workflow.objects.create(
            organization=world.org,
            flow=self.leads,
            name="Drill hook",
            trigger_module="leads",
            trigger_type="lead_created",
        )
        for index, step in enumerate(program_prefix or []):
            WorkflowAction.objects.create(
                workflow=self.workflow, action_type=step["type"], config=step["config"], sort_order=index
            )
        WorkflowAction.objects.create(
            workflow=self.workflow,
            action_type="webhook",
            config={"url": deliveries.url("/ok/hook"), "maxAttempts": 5},
            sort_order=100,
        )
        self.started = Run.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        self.created_at: dict[int, float] = {}  # task id -> when its event committed

    def action_run(self, n: int) -> None:
        from actions.services import action_perform

        task = task_create(flow=self.ops, actor=self.world.admin, data={"Company Name": f"Drill {n}"})
        action_perform(action=self.action, task=task, actor=self.world.admin)

    def workflow_run(self, n: int, name: str = "Lead") -> int:
        task = task_create(flow=self.leads, actor=self.world.admin, data={"Company Name": f"{name} {n}"})
        self.created_at[task.pk] = time.time()
        return task.pk

    def steady(self, count: int, interval: float = 0.02) -> None:
        """Runs in a thread of its own: its database session ends with it."""
        try:
            for n in range(count):
                if n % 2:
                    self.action_run(n)
                else:
                    self.workflow_run(n)
                time.sleep(interval)
        finally:
            connection.close()

    def runs(self):
        return Run.objects.filter(pk__gt=self.started)

    def settled(self) -> bool:
        return not self.runs().exclude(status__in=[Run.Status.SUCCESS, Run.Status.FAIL]).exists()

    def account(self, expected: int, *, timeout: float = 90) -> dict:
        """Wait for every run to end, then count: succeeded, failed with a reason, missing."""
        wait_until(lambda: self.runs().count() >= expected and self.settled(), timeout=timeout, interval=0.2)
        runs = list(self.runs())
        succeeded = [r for r in runs if r.status == Run.Status.SUCCESS]
        failed = [r for r in runs if r.status == Run.Status.FAIL]
        unexplained = [r.pk for r in failed if not r.errors]
        missing = expected - len(succeeded) - len(failed)
        # Every delivery's idempotency id names one run and step; a step delivered twice must have
        # been delivered under the same id, so the ids received are exactly one per step that called out.
        keys = self.deliveries.keys()
        expected_keys = {
            step.idempotency_key
            for r in runs
            for step in r.step_runs.all()
            if step.type in ("api_call", "webhook") and step.attempts
        }
        stray = [k for k in keys if k not in expected_keys]
        for r in succeeded:
            for step in r.step_runs.filter(type__in=["api_call", "webhook"]):
                assert keys[step.idempotency_key] >= 1, f"run {r.pk} succeeded without delivering {step.path}"
        return {
            "succeeded": len(succeeded),
            "failed": len(failed),
            "missing": missing,
            "unexplained": unexplained,
            "stray_keys": stray,
            "redelivered": sum(1 for k, n in keys.items() if n > 1),
            "stuck": [(r.pk, r.status) for r in runs if r.status not in (Run.Status.SUCCESS, Run.Status.FAIL)],
        }


@pytest.fixture
def deliveries():
    with Deliveries() as d:
        yield d


@pytest.fixture
def drill_settings(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    return settings
