"""Transport: one request sent to a checked, pinned address within a total deadline, the response read
up to a size cap, and every failure mapped to an OutboundError."""

from __future__ import annotations

import errno
import heapq
import http.client
import itertools
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3.exceptions
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from flowsite import jsonsafe
from flowsite.outbound.checks import Target, checked_addresses, invalid_url, parse_url, prepare_headers
from flowsite.outbound.errors import OutboundError, seconds
from flowsite.outbound.redaction import redact_text

USER_AGENT = "Flowsite (+outbound)"
_READ_CHUNK = 64 * 1024


@dataclass
class OutboundResponse:
    status_code: int
    headers: dict[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes
    truncated: bool
    elapsed_ms: float
    # The address the request was actually sent to (after the SSRF check); handy for logs.
    address: str = field(default="", compare=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code <= 299

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any | None:
        """The body as JSON, or None when it is not JSON Flowsite accepts (flowsite.jsonsafe: too deep,
        lone surrogates, not UTF-8), so an answer can never store what the API would refuse."""
        try:
            return jsonsafe.loads(self.body)
        except ValueError:  # UnsafeJSON and JSONDecodeError are both ValueErrors
            return None


# --------------------------------------------------------------------------------------------------------------
# Deadline watchdog and pinned connections

# Per thread: its pinned adapter (connection pools), and the deadline of the request it is sending (which its
# connections hand their sockets to).
_local = threading.local()


class _Deadline:
    """Shuts the active connection's socket down when the total time budget runs out.

    Socket timeouts are per operation, so a peer sending one byte per second never trips them; closing the
    socket from another thread is the only way to bound a blocking read in http.client/ssl.
    """

    def __init__(self, seconds: float, label: float) -> None:
        self.label = label  # the configured total, for messages (``seconds`` is what is left of it)
        self.at = time.monotonic() + seconds
        self.expired = False
        self._done = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        _watchdog.watch(self)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def error(self) -> OutboundError:
        return OutboundError("timeout", f"timed out after {seconds(self.label)}s")

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self._done:
                return
            self._sock = sock
            if self.expired:
                _shutdown_socket(sock)

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            if self._sock is not None:
                _shutdown_socket(self._sock)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._sock = None

    @property
    def done(self) -> bool:
        return self._done


class _Watchdog:
    """One thread per process expires every deadline when its time comes: a timer thread started and
    stopped for each call would cost more than a loopback call itself. Finished deadlines stay in the
    heap until their time or until they outnumber the live ones, when the heap is rebuilt without them."""

    def __init__(self) -> None:
        self._pid = 0
        self._order = itertools.count()

    def watch(self, deadline: _Deadline) -> None:
        if self._pid != os.getpid():
            self._start()  # first use, or a forked child (threads do not survive a fork)
        with self._wake:
            if len(self._heap) >= self._compact_at:
                self._heap[:] = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
                self._compact_at = max(1024, 2 * len(self._heap))
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._heap[0][2] is deadline:
                self._wake.notify()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._compact_at = 1024
        self._wake = threading.Condition()
        threading.Thread(
            target=self._run, args=(self._heap, self._wake), name="outbound-deadlines", daemon=True
        ).start()

    @staticmethod
    def _run(heap: list, wake: threading.Condition) -> None:
        while True:
            with wake:
                while not heap or heap[0][0] > time.monotonic():
                    wake.wait(heap[0][0] - time.monotonic() if heap else None)
                _at, _order, deadline = heapq.heappop(heap)
            deadline.expire()


_watchdog = _Watchdog()


def _shutdown_socket(sock: socket.socket) -> None:
    try:
        # The plain-socket shutdown (not SSLSocket.shutdown, which tears down SSL state another thread is
        # using) makes a blocked recv in the calling thread return immediately.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _WatchedConnectionMixin:
    """Hands every socket the connection is about to block on to the calling thread's deadline."""

    def _watch(self, sock: socket.socket | None) -> None:
        deadline: _Deadline | None = getattr(_local, "deadline", None)
        if deadline is not None:
            deadline.attach(sock)

    def _new_conn(self) -> socket.socket:
        # The raw TCP socket: what a TLS handshake blocks on (wrapping it later detaches this object).
        sock = super()._new_conn()  # type: ignore[misc]
        self._watch(sock)
        return sock

    _body_after_head: bytes | None = None

    def request(self, method: str, url: str, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        # A reused or already-handshaken connection: its (possibly TLS) socket is what the exchange blocks on.
        self._watch(self.sock)  # type: ignore[attr-defined]
        if isinstance(body, bytes) and body and headers and "Content-Length" in headers:
            # The head and a body of known length go out in one write (send below): one system call and
            # one segment instead of two, so the receiver wakes once. The head is framed by its
            # Content-Length, so urllib3 is handed no body.
            self._body_after_head = body
            body = None
        try:
            super().request(method, url, body=body, headers=headers, **kwargs)  # type: ignore[misc]
        finally:
            self._body_after_head = None

    def send(self, data: Any) -> None:
        body, self._body_after_head = self._body_after_head, None
        super().send(data if body is None else data + body)  # type: ignore[misc]


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _PinnedAdapter(HTTPAdapter):
    """Connects to the IP in the request URL; uses the original host name for SNI and certificate checks.

    ``send`` rewrites the URL host to the checked IP, so urllib3 never resolves a name. Pools are keyed by
    (scheme, IP, port) plus, for https, the TLS server name - so calls to one receiver reuse one connection.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPConnectionPool,
            "https": _WatchedHTTPSConnectionPool,
        }

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") == "https":
            tls_name = getattr(request, "flowsite_tls_name", None)
            if not tls_name:
                # Only send() may use this adapter: without the original name we would verify the IP.
                raise OutboundError("invalid_request", "https request without a TLS server name")
            # Set on the context by urllib3 as SNI and checked by ssl's own hostname verification.
            pool_kwargs["server_hostname"] = tls_name
        return host_params, pool_kwargs


_DEFAULT_HEADERS = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"}


def _adapter() -> _PinnedAdapter:
    """The calling thread's pinned adapter and its connection pools. Requests go to it directly, not
    through a requests.Session: a session would add what must never apply here (cookies, proxies and
    netrc from the environment, following redirects) and costs more than a loopback call to set up
    per request."""
    adapter: _PinnedAdapter | None = getattr(_local, "adapter", None)
    if adapter is None:
        adapter = _local.adapter = _PinnedAdapter(pool_connections=32, pool_maxsize=2, max_retries=0)
    return adapter


# --------------------------------------------------------------------------------------------------------------
# Sending

_METHOD_RE = re.compile(r"[A-Za-z]+")


def _display(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (requests and urllib3 nest several levels deep)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        nested.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
        stack.extend(e for e in nested if isinstance(e, BaseException))


def _translate(exc: BaseException, deadline: _Deadline, addr: str, host: str, connect_timeout: float) -> OutboundError:
    """Map whatever requests/urllib3/ssl raised to an OutboundError whose message carries no request data."""
    if deadline.expired or deadline.remaining() <= 0:
        return deadline.error()
    chain = list(_causes(exc))

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(e, types) for e in chain)

    # Order matters: urllib3's NewConnectionError subclasses ConnectTimeoutError, and http.client's
    # RemoteDisconnected subclasses ConnectionResetError.
    if has(ConnectionRefusedError):
        return OutboundError("connect", f"connection refused by {addr}")
    if any(
        isinstance(e, urllib3.exceptions.ConnectTimeoutError)
        and not isinstance(e, urllib3.exceptions.NewConnectionError)
        for e in chain
    ):
        return OutboundError("timeout", f"connecting to {addr} timed out after {seconds(connect_timeout)}s")
    if has(urllib3.exceptions.NewConnectionError):
        codes = [e.errno for e in chain if isinstance(e, OSError) and e.errno]
        why = f": {os.strerror(codes[0]).lower()}" if codes else ""
        return OutboundError("connect", f"could not connect to {addr}{why}")
    if has(requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError):
        return deadline.error()
    verify_errors = [e for e in chain if isinstance(e, ssl.SSLCertVerificationError)]
    if verify_errors:
        detail = verify_errors[0].verify_message or "certificate verify failed"
        return OutboundError("connection", f"TLS certificate of {host} could not be verified: {detail}")
    if any(isinstance(e, OSError) and e.errno == errno.ECONNRESET for e in chain):
        return OutboundError("connection", f"connection reset by {addr}")
    ssl_errors = [e for e in chain if isinstance(e, ssl.SSLError) and not isinstance(e, ssl.SSLEOFError)]
    if ssl_errors:
        detail = ssl_errors[0].reason or "handshake failed"
        return OutboundError("connection", f"TLS error talking to {host} at {addr}: {detail}")
    if has(BrokenPipeError, ConnectionAbortedError):
        return OutboundError("connection", f"connection to {addr} was closed while sending the request")
    if has(
        http.client.RemoteDisconnected,
        http.client.IncompleteRead,
        ConnectionResetError,
        ssl.SSLEOFError,
        urllib3.exceptions.ProtocolError,
    ):
        return OutboundError("connection", f"connection to {addr} closed before a complete response")
    if has(urllib3.exceptions.DecodeError, requests.exceptions.ContentDecodingError):
        return OutboundError("connection", f"response from {addr} could not be decoded")
    if has(http.client.HTTPException, urllib3.exceptions.HTTPError):
        return OutboundError("connection", f"invalid HTTP response from {addr}")
    return OutboundError("connection", f"request to {addr} failed")


def _positive(name: str, value: float | None, default: float) -> float:
    result = float(default if value is None else value)
    if not result > 0:
        raise ValueError(f"{name} must be positive")
    return result


def send(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    secrets: Iterable[str] = (),
    connect_timeout: float | None = None,
    total_timeout: float | None = None,
    max_bytes: int | None = None,
) -> OutboundResponse:
    """Send one request to a user-supplied URL, with every SSRF and resource guard applied.

    Redirects are returned, not followed. A body larger than ``max_bytes`` is cut at ``max_bytes`` with
    ``truncated=True``. Every failure is an OutboundError, with ``secrets`` (values in clear that must
    never be shown: secret header values, tokens) redacted from its message.
    """
    try:
        return _send(method, url, headers, body, connect_timeout, total_timeout, max_bytes)
    except OutboundError as exc:
        redacted = redact_text(exc.message, secrets)
        if redacted == exc.message:
            raise
        raise OutboundError(exc.kind, redacted) from None


def _send(
    method: str,
    url: str,
    headers: dict[str, str] | None,
    body: bytes | None,
    connect_timeout: float | None,
    total_timeout: float | None,
    max_bytes: int | None,
) -> OutboundResponse:
    started = time.monotonic()
    connect_timeout = _positive("connect_timeout", connect_timeout, settings.OUTBOUND_CONNECT_TIMEOUT)
    total_timeout = _positive("total_timeout", total_timeout, settings.OUTBOUND_TOTAL_TIMEOUT)
    limit = int(settings.OUTBOUND_MAX_RESPONSE_BYTES if max_bytes is None else max_bytes)
    if limit < 0:
        raise ValueError("max_bytes must not be negative")

    if not isinstance(method, str) or not _METHOD_RE.fullmatch(method):
        raise OutboundError("invalid_request", "HTTP method must be a word such as GET or POST")
    method = method.upper()
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif body is not None and not isinstance(body, bytes | bytearray | memoryview):
        raise OutboundError("invalid_request", "request body must be bytes")

    target = parse_url(url)
    prepared_headers = prepare_headers(headers, target.host_header)
    addresses = checked_addresses(target, total_timeout)
    data = bytes(body) if body is not None else None

    # Every address was checked, so any of them may be used. Moving on is only safe while nothing was sent,
    # i.e. after a failed connect (typically: a name with an IPv6 address that is not reachable from here).
    for index, address in enumerate(addresses):
        try:
            return _attempt(
                method, target, address, prepared_headers, data, started, connect_timeout, total_timeout, limit
            )
        except _ConnectFailed as failure:
            if index == len(addresses) - 1 or time.monotonic() - started >= total_timeout:
                raise failure.error from None
    raise AssertionError("unreachable: checked_addresses never returns an empty list")


class _ConnectFailed(Exception):
    """The connection could not be opened, so the request was not sent and another address may be tried."""

    def __init__(self, error: OutboundError) -> None:
        super().__init__(error.message)
        self.error = error


def _attempt(
    method: str,
    target: Target,
    address: str,
    headers: dict[str, str | bytes],
    body: bytes | None,
    started: float,
    connect_timeout: float,
    total_timeout: float,
    limit: int,
) -> OutboundResponse:
    addr = _display(address, target.port)
    url_host = f"[{address}]" if ":" in address else address
    try:
        request = requests.PreparedRequest()
        request.prepare_method(method)
        request.prepare_url(f"{target.scheme}://{url_host}:{target.port}{target.path}", None)
        # The caller's headers win over the defaults, whatever their case (as a session merges them).
        request.prepare_headers({**_DEFAULT_HEADERS, **headers})
        request.prepare_body(body, None)
    except (requests.RequestException, ValueError):
        raise invalid_url("URL is not valid") from None
    request.flowsite_tls_name = target.host  # type: ignore[attr-defined]
    ca_bundle = getattr(settings, "OUTBOUND_CA_BUNDLE", None)

    deadline = _Deadline(total_timeout - (time.monotonic() - started), total_timeout)
    _local.deadline = deadline
    response: requests.Response | None = None
    complete = False
    try:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise deadline.error()
        connect = min(connect_timeout, remaining)
        try:
            response = _adapter().send(
                request, stream=True, timeout=(connect, remaining), verify=ca_bundle or True, proxies={}
            )
            status = response.status_code
            response_headers = {name.lower(): value for name, value in response.headers.items()}
            raw_body, truncated = _read_body(response, deadline, limit)
            complete = not truncated
        except OutboundError:
            raise
        except Exception as exc:  # noqa: BLE001 - every transport failure must become an OutboundError
            error = _translate(exc, deadline, addr, target.host, connect)
            if response is None and _is_connect_failure(exc):
                raise _ConnectFailed(error) from None
            raise error from None
    finally:
        deadline.finish()
        _local.deadline = None
        if response is not None:
            _release(response, reusable=complete)

    return OutboundResponse(
        status_code=status,
        headers=response_headers,
        body=raw_body,
        truncated=truncated,
        elapsed_ms=(time.monotonic() - started) * 1000,
        address=address,
    )


def _is_connect_failure(exc: BaseException) -> bool:
    # NewConnectionError covers refused/unreachable; a bare ConnectTimeoutError is a TCP connect timeout.
    # (TLS failures are not included: the peer was reached, and trying elsewhere would not help.)
    return any(
        isinstance(e, urllib3.exceptions.ConnectTimeoutError | urllib3.exceptions.NewConnectionError)
        for e in _causes(exc)
    )


def _read_body(response: requests.Response, deadline: _Deadline, limit: int) -> tuple[bytes, bool]:
    raw = response.raw
    chunks: list[bytes] = []
    size = 0
    while True:
        if deadline.expired or deadline.remaining() <= 0:
            raise deadline.error()
        # read1 returns whatever has arrived instead of waiting to fill the chunk, so the deadline check
        # above runs between small reads; reading one byte past the limit tells "exactly full" from "cut".
        data = raw.read1(min(_READ_CHUNK, limit + 1 - size), decode_content=True)
        if not data:
            break
        chunks.append(data)
        size += len(data)
        if size > limit:
            return b"".join(chunks)[:limit], True
    if deadline.expired:
        # The watchdog's shutdown can look like a clean end of body; a cut body must not pass as complete.
        raise deadline.error()
    return b"".join(chunks), False


def _release(response: requests.Response, *, reusable: bool) -> None:
    raw = response.raw
    try:
        if not reusable:
            # Unread body bytes (truncated) or a broken exchange: the connection must not serve another call.
            raw.close()
        raw.release_conn()
    except Exception:  # noqa: BLE001 - cleanup must not mask the real outcome
        pass
