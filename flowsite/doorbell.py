"""Doorbells between processes: a process that committed work rings; the processes that take that
work wake at once instead of polling the database for it.

Two carriers. PostgreSQL's LISTEN/NOTIFY reaches every process connected to the database, on any
machine. A datagram to sockets in Linux's abstract namespace reaches the listeners on this machine
only, which is all SQLite (one machine by nature) and the ORM broker's pushers need; the sockets have
no files to clean up and go with their process. A listener binds the first free one of a few fixed
names per database and topic; a ring pings them all.

A ring is best effort: a listener still looks on its own every so often, so a lost ring (a listener on
another OS, more listeners than names, a connection that dropped) costs latency, never work.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import select
import socket
import time

from django.conf import settings
from django.db import connection, connections

logger = logging.getLogger(__name__)

# Listeners per database and topic per machine that can have a datagram doorbell.
SLOTS = 8


def _database(alias: str = "default") -> dict:
    return settings.DATABASES[alias]


def datagram_names(topic: str, alias: str = "default") -> list[bytes]:
    """The abstract socket names of one database's listeners for `topic` on this machine."""
    db = _database(alias)
    identity = f"{db['ENGINE']}|{db.get('HOST', '')}|{db.get('PORT', '')}|{db['NAME']}|{topic}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return [f"\0flowsite-{topic}-{digest}-{slot}".encode() for slot in range(SLOTS)]


def datagram_ring(topic: str, alias: str = "default") -> None:
    """Ping every listener of `topic` on this machine (unbound names refuse at once)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for name in datagram_names(topic, alias):
            with contextlib.suppress(OSError):  # nobody there, or its buffer is full of pings already
                sender.sendto(b"!", name)


class DatagramListener:
    """This process's datagram doorbell for a topic, bound on first use (by the process that waits:
    a forked child binds its own)."""

    def __init__(self, topic: str, alias: str = "default"):
        self.topic, self.alias = topic, alias
        self._sock: socket.socket | None = None
        self._pid = 0

    def _bound(self) -> socket.socket | None:
        if self._pid == os.getpid():
            return self._sock
        self._sock, self._pid = None, os.getpid()
        for name in datagram_names(self.topic, self.alias):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.bind(name)
            except OSError:  # taken by another listener, or no abstract namespace here
                sock.close()
                continue
            sock.setblocking(False)
            self._sock = sock
            break
        return self._sock

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for a ring; True if one came. Without a socket, sleeps."""
        sock = self._bound()
        if sock is None:
            time.sleep(seconds)
            return False
        ready, _, _ = select.select([sock], [], [], seconds)
        if not ready:
            return False
        with contextlib.suppress(OSError):
            while sock.recv(16):  # every ping so far: one look answers them all
                pass
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._pid = None, 0


def channel(topic: str) -> str:
    """The PostgreSQL channel of a topic."""
    return f"flowsite_{topic}"


# A ring carried by a PostgreSQL statement (an expression of its SELECT list; its parameter is the
# topic's channel): heard when the statement's transaction commits, as ring() after the commit would
# be, without a round trip of its own.
RING_IN_STATEMENT = "pg_notify(%s, '')"


class NotifyListener:
    """LISTEN on a connection of its own (Django's connections are used for transactions; a
    listening connection must stay in autocommit and idle). Reconnects after the database was away."""

    def __init__(self, topic: str, alias: str = "default"):
        self.topic, self.alias = topic, alias
        self._conn = None

    def _connect(self):
        import psycopg

        # Django's own parameters for this database (host, credentials and OPTIONS such as sslmode).
        params = connections[self.alias].get_connection_params()
        params.setdefault("connect_timeout", 5)
        conn = psycopg.connect(**params, autocommit=True)
        conn.execute(f"LISTEN {channel(self.topic)}")
        return conn

    def wait(self, seconds: float) -> bool:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            rung = False
            for _ in self._conn.notifies(timeout=seconds, stop_after=1):
                rung = True
            if rung:  # the rings that came meanwhile: one look answers them all
                for _ in self._conn.notifies(timeout=0):
                    pass
            return rung
        except Exception:  # the database is away: look on the listener's own schedule meanwhile
            logger.warning("doorbell %s: listening failed; polling until the database is back", self.topic)
            self.close()
            time.sleep(min(seconds, 1.0))
            return False

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None


def ring(topic: str) -> None:
    """Wake every listener of `topic`: NOTIFY on PostgreSQL (one statement on this thread's
    connection; call it after the commit that made the work, or inside that transaction, where
    PostgreSQL delivers it at commit and folds repeats), a datagram on SQLite."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {channel(topic)}")
    else:
        datagram_ring(topic)


def listener(topic: str) -> DatagramListener | NotifyListener:
    """A listener for `topic` on the default database's carrier (see ring)."""
    if _database()["ENGINE"].endswith("postgresql"):
        return NotifyListener(topic)
    return DatagramListener(topic)
