"""django-q2's ORM broker with a doorbell for its pusher.

The ORM broker's pusher polls the queue table and sleeps `Q_POLL` seconds whenever it is empty, so a
message waits half a poll on average before a worker sees it. Here every enqueue pings the pushers of
the same database on this machine through a local datagram socket once the message is written, and a
pusher waits on its socket instead of sleeping: a message wakes it at once, and the poll only bounds
how long it waits when nobody pings (messages from other machines, or a lost ping). Redis needs none
of this: its pusher blocks on BLPOP.

The doorbell is flowsite.doorbell's datagram carrier (pushers run on the machine whose web processes
enqueue; PostgreSQL setups use Redis). Pings are best effort: where a socket cannot be bound (another
OS, more pushers than names), that pusher polls as before.
"""

from __future__ import annotations

from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf

from flowsite.doorbell import DatagramListener, datagram_names, datagram_ring

TOPIC = "queue"


def doorbell_names() -> list[bytes]:
    """The abstract socket names of one database's pushers on this machine."""
    return datagram_names(TOPIC, Conf.ORM or "default")


def ring() -> None:
    """Ping every pusher of this database on this machine."""
    datagram_ring(TOPIC, Conf.ORM or "default")


class DoorbellORM(ORM):
    def __init__(self, list_key: str | None = None):
        super().__init__(list_key=list_key)
        self._bell = DatagramListener(TOPIC, Conf.ORM or "default")

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
        self._bell.wait(Conf.POLL)
        return None
