"""Real loopback HTTP(S) receivers for tests of code that sends requests (actions, webhooks, outbound).

Usage::

    with Receiver() as receiver:                      # 200, empty body, on 127.0.0.1:<random port>
        receiver.set_response(status=201, body=b'{"ok": true}', headers={"Content-Type": "application/json"})
        send("POST", receiver.url_for("/hook"), body=b"x")
        [req] = receiver.wait_for_requests(1)
        assert req.method == "POST" and req.body == b"x" and req.headers["host"] == receiver.netloc

    # Full control: a handler is called for every request and returns a Reply, or None when it wrote
    # (or deliberately did not write) the response itself through ``req.socket`` / ``req.wfile``.
    with Receiver(handler=lambda req: Reply(302, headers={"Location": "/next"})) as receiver: ...
    with Receiver(handler=hang) as receiver: ...            # accepts, reads the request, never answers
    with Receiver(handler=trickle(interval=0.1)) as receiver: ...
    with Receiver(handler=reset_connection) as receiver: ...

Only loopback addresses are accepted as bind hosts: tests must never talk to anything outside 127.0.0.0/8.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import Any, Self

from requests.structures import CaseInsensitiveDict


@dataclass
class Reply:
    """What the receiver answers. ``delay`` waits (seconds) before answering; Content-Length is added."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class ReceivedRequest:
    method: str
    path: str  # request target as sent, including the query string
    headers: CaseInsensitiveDict  # case-insensitive lookup, original names kept when iterating
    raw_headers: list[tuple[str, str]]  # in arrival order, repeats kept
    body: bytes
    client: tuple[str, int]  # (address, port): the port identifies the TCP connection
    http_version: str
    # For handlers that need to misbehave (hang, trickle, reset); not part of equality or repr.
    handler: BaseHTTPRequestHandler = field(repr=False, compare=False)
    stopping: threading.Event = field(repr=False, compare=False)

    @property
    def socket(self) -> socket.socket:
        return self.handler.connection

    @property
    def wfile(self) -> BufferedIOBase:
        return self.handler.wfile


Handler = Callable[[ReceivedRequest], Reply | None]


# --- ready-made misbehaving handlers -------------------------------------------------------------------------


def hang(req: ReceivedRequest) -> None:
    """Read the request, then never answer (until the receiver stops)."""
    req.stopping.wait()


def trickle(interval: float = 0.1, chunk: bytes = b"x", *, in_headers: bool = False) -> Handler:
    """Answer 200 with a huge Content-Length, then send ``chunk`` every ``interval`` seconds forever.

    ``in_headers=True`` trickles inside the header block instead (the status line is never completed
    with a blank line), which only a total deadline - not a per-read timeout - can stop.
    """

    def handler(req: ReceivedRequest) -> None:
        try:
            if in_headers:
                req.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            else:
                req.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
            req.wfile.flush()
            while not req.stopping.wait(interval):
                req.wfile.write(chunk)
                req.wfile.flush()
        except OSError:
            pass  # the client gave up, which is the point

    return handler


def reset_connection(req: ReceivedRequest) -> None:
    """Abort the TCP connection with a RST instead of answering."""
    req.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    req.socket.close()


def close_without_reply(req: ReceivedRequest) -> None:
    """Close the connection cleanly (FIN) without sending a response."""
    req.socket.shutdown(socket.SHUT_RDWR)


def redirect(location: str, status: int = 302) -> Handler:
    return lambda req: Reply(status, headers={"Location": location})


# --- the receiver --------------------------------------------------------------------------------------------


class Receiver:
    """A threaded HTTP/1.1 server on a loopback address and a random port that records every request."""

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
        protocol_version: str = "HTTP/1.1",
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("receivers only bind to loopback addresses")
        self.handler = handler
        self.host = host
        self.ssl_context = ssl_context
        self.protocol_version = protocol_version
        self.reply = Reply()
        self.requests: list[ReceivedRequest] = []
        self.connections: list[tuple[str, int]] = []  # client address of every accepted TCP connection
        self.errors: list[BaseException] = []  # exceptions raised while handling (e.g. failed TLS handshakes)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._open_sockets: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> Self:
        receiver = self

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in receiver.host else socket.AF_INET
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                receiver._record_error(sys.exc_info()[1])

        self._server = Server((self.host, 0), _make_handler_class(self))
        if self.ssl_context is not None:
            # Handshake lazily in the connection's own thread so one bad client cannot stall accept().
            self._server.socket = self.ssl_context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            sockets = list(self._open_sockets)
        for sock in sockets:  # release keep-alive and hanging handler threads
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses

    @property
    def port(self) -> int:
        assert self._server is not None, "receiver not started"
        return self._server.server_address[1]

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. http://127.0.0.1:41234."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.netloc}"

    def url_for(self, path: str = "/") -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    # -- behaviour

    def set_response(
        self, status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None, delay: float = 0.0
    ) -> None:
        """The reply used when no handler is set."""
        self.reply = Reply(status, body, dict(headers or {}), delay)

    def set_handler(self, handler: Handler | None) -> None:
        self.handler = handler

    # -- observations

    def wait_for_requests(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Poll until at least ``count`` requests arrived; returns all of them (AssertionError on timeout)."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.requests) >= count, timeout=timeout):
                raise AssertionError(f"expected {count} request(s), receiver got {len(self.requests)}")
            return list(self.requests)

    def wait_for_connections(self, count: int = 1, timeout: float = 5.0) -> list[tuple[str, int]]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.connections) >= count, timeout=timeout):
                raise AssertionError(f"expected {count} connection(s), receiver got {len(self.connections)}")
            return list(self.connections)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.connections.clear()
            self.errors.clear()

    # -- internals used by the handler class

    def _record(self, request: ReceivedRequest) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def _record_connection(self, sock: socket.socket, client: tuple[str, int]) -> None:
        with self._changed:
            self.connections.append(client)
            self._open_sockets.add(sock)
            self._changed.notify_all()

    def _forget_socket(self, sock: socket.socket) -> None:
        with self._lock:
            self._open_sockets.discard(sock)

    def _record_error(self, error: BaseException | None) -> None:
        if error is not None:
            with self._lock:
                self.errors.append(error)


def _read_chunked(rfile: Any) -> bytes:
    body = bytearray()
    while True:
        size = int(rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return bytes(body)
        body += rfile.read(size)
        rfile.readline()


def _make_handler_class(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = receiver.protocol_version

        def setup(self) -> None:
            receiver._record_connection(self.request, self.client_address[:2])
            # Without this, a reply written in two parts waits ~40 ms for the client's delayed ACK (Nagle).
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if isinstance(self.request, ssl.SSLSocket):
                self.request.settimeout(5)
                self.request.do_handshake()
                self.request.settimeout(None)
            super().setup()

        def finish(self) -> None:
            try:
                super().finish()
            except OSError:
                pass
            receiver._forget_socket(self.request)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def __getattr__(self, name: str) -> Any:
            # BaseHTTPRequestHandler dispatches to do_<METHOD>; accept every method.
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

        def _dispatch(self) -> None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                body = _read_chunked(self.rfile)
            else:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            raw_headers = list(self.headers.items())
            request = ReceivedRequest(
                method=self.command,
                path=self.path,
                headers=CaseInsensitiveDict(raw_headers),
                raw_headers=raw_headers,
                body=body,
                client=self.client_address[:2],
                http_version=self.request_version,
                handler=self,
                stopping=receiver.stopping,
            )
            receiver._record(request)
            reply = receiver.handler(request) if receiver.handler is not None else receiver.reply
            if reply is None:
                self.close_connection = True  # the handler owned the socket; its state is unknown
                return
            if reply.delay:
                receiver.stopping.wait(reply.delay)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if not any(name.lower() in ("content-length", "transfer-encoding") for name in reply.headers):
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
            self.wfile.flush()

    return RequestHandler


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
