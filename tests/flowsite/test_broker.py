"""The ORM broker's doorbell: an enqueue wakes a waiting pusher at once instead of after its poll."""

import socket
import threading
import time

import pytest
from django.db import connection
from django_q.conf import Conf

from flowsite.broker import DoorbellORM, doorbell_names

pytestmark = pytest.mark.django_db(transaction=True)


def _pusher(broker: DoorbellORM, got: list, stop: threading.Event) -> threading.Thread:
    """The pusher's loop, in a thread: dequeue until a message comes, and note when."""

    def loop():
        try:
            while not stop.is_set():
                taken = broker.dequeue()
                if taken:
                    got.append((time.monotonic(), taken))
                    return
        finally:
            connection.close()

    thread = threading.Thread(target=loop)
    thread.start()
    return thread


def _deliver(poll: float, monkeypatch) -> tuple[float, list]:
    monkeypatch.setattr(Conf, "POLL", poll)
    pusher, got, stop = DoorbellORM(), [], threading.Event()
    thread = _pusher(pusher, got, stop)
    time.sleep(0.5)  # the pusher found the queue empty and waits
    sent = time.monotonic()
    package_id = DoorbellORM().enqueue("ding")
    thread.join(timeout=2 * poll + 5)
    stop.set()
    assert got, "the message never reached the pusher"
    arrived, taken = got[0]
    assert [pk for pk, _ in taken] == [package_id]
    return arrived - sent, taken


def test_an_enqueue_wakes_a_waiting_pusher_at_once(monkeypatch):
    waited, _ = _deliver(5.0, monkeypatch)
    assert waited < 1.0, f"the pusher slept through the doorbell ({waited:.2f} s of a 5 s poll)"


def test_a_pusher_without_a_doorbell_still_polls(monkeypatch):
    # Every doorbell name is taken (as by other pushers): this one cannot bind and polls instead.
    taken = []
    try:
        for name in doorbell_names():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(name)
            taken.append(sock)
        waited, _ = _deliver(1.0, monkeypatch)
    finally:
        for sock in taken:
            sock.close()
    assert waited >= 0.4, f"{waited:.2f} s: woken although it had no doorbell"
