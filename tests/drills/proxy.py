"""A small fault-injecting TCP proxy on 127.0.0.1: the app's processes reach PostgreSQL through it,
and a drill cuts it (every connection reset, new ones refused) and restores it, which looks to
them exactly like the database going away, without touching the test process's own connections."""

from __future__ import annotations

import socket
import struct
import threading


class FaultProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.down = threading.Event()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def cut(self) -> None:
        """The database is gone: reset every open connection and refuse new ones."""
        with self.lock:
            self.down.set()
            sockets = list(self.sockets)
            self.sockets.clear()
        for sock in sockets:
            _reset(sock)

    def restore(self) -> None:
        self.down.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self.lock:
                # A cut may have come while connecting: this pair was not in its snapshot.
                cut_meanwhile = self.down.is_set()
                if not cut_meanwhile:
                    self.sockets.update((client, upstream))
            if cut_meanwhile:
                _reset(client)
                _reset(upstream)
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self.lock:
                self.sockets.discard(source)
                self.sockets.discard(sink)


def _reset(sock: socket.socket) -> None:
    # shutdown() first: close() alone does not reach the peer while a pipe thread is blocked in
    # recv() on the socket (the kernel keeps it open for that call), so an idle session would
    # survive the cut, and PostgreSQL would keep its transaction and row locks forever.
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
