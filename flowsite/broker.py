"""django-q2's ORM broker with a doorbell for its pusher.

The ORM broker's pusher polls the queue table and sleeps `Q_POLL` seconds whenever it is empty, so a
message waits half a poll on average before a worker sees it. Here every enqueue pings the pushers of
the same database on this machine through a local datagram socket once the message is written, and a
pusher waits on its socket instead of sleeping: a message wakes it at once, and the poll only bounds
how long it waits when nobody pings (messages from other machines, or a lost ping). Redis needs none
of this: its pusher blocks on BLPOP.

The sockets live in Linux's abstract namespace (no files to clean up; they go with their process), at
a few fixed names per database that a pusher binds the first free one of and an enqueue pings all of.
Pings are best effort: where a socket cannot be bound (another OS, more pushers than names), that
pusher polls as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import socket
import time

from django.conf import settings
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf

# Pushers per database per machine that can have a doorbell: one per qcluster process.
SLOTS = 8


def doorbell_names() -> list[bytes]:
    """The abstract socket names of one database's pushers on this machine."""
    db = settings.DATABASES[Conf.ORM or "default"]
    identity = f"{db['ENGINE']}|{db.get('HOST', '')}|{db.get('PORT', '')}|{db['NAME']}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return [f"\0flowsite-doorbell-{digest}-{slot}".encode() for slot in range(SLOTS)]


def ring() -> None:
    """Ping every pusher of this database on this machine (unbound names refuse at once)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for name in doorbell_names():
            with contextlib.suppress(OSError):  # nobody there, or its buffer is full of pings already
                sender.sendto(b"!", name)


class DoorbellORM(ORM):
    def __init__(self, list_key: str | None = None):
        super().__init__(list_key=list_key)
        self._bell: socket.socket | None = None
        self._bell_pid = 0  # the process that bound it: a forked child binds its own

    def enqueue(self, task) -> int:
        package_id = super().enqueue(task)
        ring()
        return package_id

    def dequeue(self):
        queue = self.get_connection()
        taken = []
        for package in queue.filter(key=self.list_key, lock__lt=timezone.now())[: Conf.BULK]:
            # Taken only if no other pusher took it first (its lock would have moved on).
            if queue.filter(id=package.id, lock=package.lock).update(lock=self.timeout(package)):
                taken.append((package.pk, package.payload))
        if taken:
            return taken
        self._wait(Conf.POLL)
        return None

    def _wait(self, seconds: float) -> None:
        bell = self._listen()
        if bell is None:
            time.sleep(seconds)
            return
        ready, _, _ = select.select([bell], [], [], seconds)
        if ready:
            with contextlib.suppress(OSError):
                while bell.recv(16):  # every ping so far: one look at the queue answers them all
                    pass

    def _listen(self) -> socket.socket | None:
        """This process's doorbell, bound on first use (the pusher is the process that waits)."""
        if self._bell_pid == os.getpid():
            return self._bell
        self._bell, self._bell_pid = None, os.getpid()
        for name in doorbell_names():
            bell = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                bell.bind(name)
            except OSError:  # taken by another pusher, or no abstract namespace here
                bell.close()
                continue
            bell.setblocking(False)
            self._bell = bell
            break
        return self._bell
