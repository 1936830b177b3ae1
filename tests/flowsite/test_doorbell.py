"""The doorbells between processes (flowsite.doorbell): a ring from another connection or process
wakes a waiting listener at once, on the database's own carrier (NOTIFY on PostgreSQL, a local
datagram on SQLite); without a ring the listener waits its whole timeout. A committed task write rings
the task events' outbox doorbell, which is what wakes every worker's dispatcher."""

import socket
import threading
import time

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from flowsite import doorbell
from workflows.dispatch import OUTBOX_TOPIC

pytestmark = pytest.mark.django_db(transaction=True)


def _waiting(topic: str, seconds: float) -> tuple[threading.Thread, list, threading.Event]:
    """A listener waiting in a thread; `ready` is set once it listens (bound or LISTENing)."""
    result: list = []
    ready = threading.Event()
    bell = doorbell.listener(topic)

    def wait():
        try:
            bell.wait(0.01)  # binds the socket / opens the LISTEN connection
            ready.set()
            started = time.monotonic()
            result.append((bell.wait(seconds), time.monotonic() - started))
        finally:
            bell.close()

    thread = threading.Thread(target=wait)
    thread.start()
    assert ready.wait(10), "the listener never started listening"
    return thread, result, ready


def _ring_from_elsewhere(topic: str) -> None:
    """What another process does: its own connection's NOTIFY, or a datagram from its own socket."""
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        params = {"dbname": db["NAME"], "user": db["USER"], "host": db["HOST"], "port": db["PORT"] or None}
        with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as other:
            other.execute(f"NOTIFY flowsite_{topic}")
    else:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            for name in doorbell.datagram_names(topic):
                try:
                    sender.sendto(b"!", name)
                except OSError:
                    pass


def test_a_ring_from_another_connection_wakes_a_listener_at_once():
    thread, result, _ = _waiting("test_topic", 10.0)
    _ring_from_elsewhere("test_topic")
    thread.join(15)
    [(rung, waited)] = result
    assert rung is True
    assert waited < 5.0, f"woken after {waited:.2f} s of a 10 s wait"


def test_without_a_ring_a_listener_waits_its_timeout():
    thread, result, _ = _waiting("quiet_topic", 0.3)
    _ring_from_elsewhere("another_topic")  # another topic's ring is not ours
    thread.join(15)
    [(rung, waited)] = result
    assert rung is False and waited >= 0.25


def test_a_committed_task_write_rings_the_outbox_doorbell(world, api):
    # A flow that plays a module: workflows can listen to its events (a module-less flow's are not
    # dispatched at all, and ring nobody).
    world.flow.module = "tasks"
    world.flow.save(update_fields=["module"])
    thread, result, _ = _waiting(OUTBOX_TOPIC, 10.0)
    response = api(world.admin).post("/api/flows/acme/sales/tasks", {}, format="json")
    assert response.status_code == 201, response.content
    thread.join(15)
    [(rung, waited)] = result
    assert rung is True and waited < 5.0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite rings with a datagram after the commit")
def test_a_task_api_create_rings_in_its_own_statement(world, api):
    """On PostgreSQL the Task API's create carries the outbox's ring in its one statement (heard when
    it commits), instead of a NOTIFY round trip of its own after it."""
    world.flow.module = "tasks"
    world.flow.save(update_fields=["module"])
    client = api(world.admin)
    assert client.post("/api/flows/acme/sales/tasks", {}, format="json").status_code == 201
    thread, result, _ = _waiting(OUTBOX_TOPIC, 10.0)
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/flows/acme/sales/tasks", {}, format="json")
    assert response.status_code == 201, response.content
    thread.join(15)
    [(rung, _)] = result
    assert rung is True
    sql = [q["sql"] for q in queries]
    assert not [s for s in sql if s.startswith("NOTIFY")], sql
    [write] = [s for s in sql if s.startswith("WITH task AS (INSERT")]
    assert "pg_notify" in write
