"""Transport: one request sent to a checked, pinned address within a total deadline, the response read
up to a size cap, and every failure mapped to an OutboundError."""

from __future__ import annotations

import errno
import heapq
import http.client
import itertools
import os
import re
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import certifi
from django.conf import settings
from requests.utils import requote_uri
from urllib3.util.url import _encode_target

from flowsite import jsonsafe
from flowsite.outbound.checks import Target, checked_addresses, invalid_url, parse_url, prepare_headers
from flowsite.outbound.errors import OutboundError, seconds
from flowsite.outbound.redaction import redact_text

USER_AGENT = "Flowsite (+outbound)"
_READ_CHUNK = 64 * 1024
_DEFAULT_HEADERS = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"}


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

# Per thread: its open connections (below).
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


# Per thread: the open connection (a socket) for each (scheme, address, port, TLS name, CA bundle), so calls
# to one receiver reuse one connection. A thread sends one request at a time: one connection a key is enough.
# The exchange itself is written here and read by http.client's response parser; http.client's connection
# class is not used, so nothing can resolve a name or open a connection past the checks.
_MAX_CONNECTIONS = 32


def _connections() -> dict[tuple, socket.socket]:
    connections = getattr(_local, "connections", None)
    if connections is None:
        connections = _local.connections = {}
    return connections


_contexts: dict[tuple, ssl.SSLContext] = {}


def _tls_context(ca_bundle: str) -> ssl.SSLContext:
    """A verifying context per CA bundle (and its version on disk): loading certifi's bundle costs more
    than a loopback call. Certificate and host name are checked by ssl itself against the TLS name."""
    stat = os.stat(ca_bundle)
    key = (ca_bundle, stat.st_mtime_ns, stat.st_size)
    context = _contexts.get(key)
    if context is None:
        context = ssl.create_default_context(cafile=ca_bundle)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        _contexts[key] = context
    return context


def _dropped(sock: socket.socket) -> bool:
    """A kept-alive connection the peer has closed (or that has bytes nobody asked for) is not reused."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    try:
        return bool(poller.poll(0))
    except OSError:
        return True


def _connect(
    target: Target, address: str, addr: str, timeout: float, ca_bundle: str | None, deadline: _Deadline
) -> socket.socket:
    """A new connection to the checked ``address`` itself (no name is resolved here); for https the TLS
    server name (SNI) and the certificate's name are the URL's host. Raises _ConnectFailed when the TCP
    connection could not be opened (nothing was sent, so another address may be tried)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        deadline.attach(sock)
        sock.settimeout(timeout)
        try:
            sock.connect((address, target.port))
        except OSError as exc:
            raise _ConnectFailed(_connect_error(exc, deadline, addr, timeout)) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if target.scheme == "https":
            context = _tls_context(ca_bundle or certifi.where())
            sock = context.wrap_socket(sock, server_hostname=target.host, do_handshake_on_connect=False)
            # Wrapping detaches the TCP socket: the handshake blocks on the TLS socket, so that is watched.
            deadline.attach(sock)
            sock.do_handshake()
    except BaseException:
        sock.close()
        raise
    return sock


def _connect_error(exc: OSError, deadline: _Deadline, addr: str, timeout: float) -> OutboundError:
    if deadline.expired or deadline.remaining() <= 0:
        return deadline.error()
    if isinstance(exc, ConnectionRefusedError):
        return OutboundError("connect", f"connection refused by {addr}")
    if isinstance(exc, TimeoutError):
        return OutboundError("timeout", f"connecting to {addr} timed out after {seconds(timeout)}s")
    why = f": {os.strerror(exc.errno).lower()}" if exc.errno else ""
    return OutboundError("connect", f"could not connect to {addr}{why}")


# --------------------------------------------------------------------------------------------------------------
# Sending

_METHOD_RE = re.compile(r"[A-Za-z]+")


def _display(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _translate(exc: BaseException, deadline: _Deadline, addr: str, host: str) -> OutboundError:
    """Map what http.client/ssl/socket raised after the TCP connect to an OutboundError whose message
    carries no request data."""
    if deadline.expired or deadline.remaining() <= 0:
        return deadline.error()
    # Order matters: http.client's RemoteDisconnected subclasses ConnectionResetError, ssl's errors OSError.
    if isinstance(exc, TimeoutError):
        return deadline.error()
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or "certificate verify failed"
        return OutboundError("connection", f"TLS certificate of {host} could not be verified: {detail}")
    if isinstance(exc, OSError) and exc.errno == errno.ECONNRESET:
        return OutboundError("connection", f"connection reset by {addr}")
    if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLEOFError):
        detail = exc.reason or "handshake failed"
        return OutboundError("connection", f"TLS error talking to {host} at {addr}: {detail}")
    if isinstance(exc, BrokenPipeError | ConnectionAbortedError):
        return OutboundError("connection", f"connection to {addr} was closed while sending the request")
    if isinstance(
        exc, http.client.RemoteDisconnected | http.client.IncompleteRead | ConnectionResetError | ssl.SSLEOFError
    ):
        return OutboundError("connection", f"connection to {addr} closed before a complete response")
    if isinstance(exc, zlib.error):
        return OutboundError("connection", f"response from {addr} could not be decoded")
    if isinstance(exc, http.client.HTTPException):
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
    head = _request_head(method, target, prepared_headers, data)

    # Every address was checked, so any of them may be used. Moving on is only safe while nothing was sent,
    # i.e. after a failed connect (typically: a name with an IPv6 address that is not reachable from here).
    for index, address in enumerate(addresses):
        try:
            return _attempt(method, target, address, head, data, started, connect_timeout, total_timeout, limit)
        except _ConnectFailed as failure:
            if index == len(addresses) - 1 or time.monotonic() - started >= total_timeout:
                raise failure.error from None
    raise AssertionError("unreachable: checked_addresses never returns an empty list")


class _ConnectFailed(Exception):
    """The connection could not be opened, so the request was not sent and another address may be tried."""

    def __init__(self, error: OutboundError) -> None:
        super().__init__(error.message)
        self.error = error


# What may stand in a request target as it is (RFC 3986 unreserved, sub-delims, ":@/?"): such a path is
# sent unchanged; any other is quoted as requests and urllib3 quoted it.
_PLAIN_TARGET_RE = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*")


def _request_target(path: str) -> str:
    if _PLAIN_TARGET_RE.fullmatch(path):
        return path
    return _encode_target(requote_uri(path))


def _request_head(method: str, target: Target, headers: dict[str, str | bytes], body: bytes | None) -> bytes:
    """The request line and headers, as http.client would write them (names and values were checked by
    prepare_headers; text values are latin-1, the others UTF-8 bytes already)."""
    # The caller's headers win over the defaults, whatever their case (in the defaults' place).
    merged: dict[str, tuple[str, str | bytes]] = {
        name.lower(): (name, value) for name, value in _DEFAULT_HEADERS.items()
    }
    for name, value in headers.items():
        merged[name.lower()] = (name, value)
    if body is not None or method not in ("GET", "HEAD"):
        merged["content-length"] = ("Content-Length", str(len(body or b"")))
    try:
        request_target = _request_target(target.path)
        lines = [f"{method} {request_target} HTTP/1.1".encode("ascii")]
    except (ValueError, UnicodeError):
        raise invalid_url("URL is not valid") from None
    for name, value in merged.values():
        lines.append(name.encode("ascii") + b": " + (value if isinstance(value, bytes) else value.encode("latin-1")))
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


def _attempt(
    method: str,
    target: Target,
    address: str,
    head: bytes,
    body: bytes | None,
    started: float,
    connect_timeout: float,
    total_timeout: float,
    limit: int,
) -> OutboundResponse:
    addr = _display(address, target.port)
    ca_bundle = getattr(settings, "OUTBOUND_CA_BUNDLE", None) or None
    key = (target.scheme, address, target.port, target.host if target.scheme == "https" else "", ca_bundle)
    connections = _connections()

    deadline = _Deadline(total_timeout - (time.monotonic() - started), total_timeout)
    sock: socket.socket | None = None
    response: http.client.HTTPResponse | None = None
    complete = False
    try:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise deadline.error()
        connect = min(connect_timeout, remaining)
        sock = connections.pop(key, None)
        if sock is not None and _dropped(sock):
            sock.close()
            sock = None
        try:
            if sock is None:
                sock = _connect(target, address, addr, connect, ca_bundle, deadline)
            else:
                deadline.attach(sock)
            # Until the request is sent the connect timeout applies (as it did to the handshake); then
            # what is left of the total, with the watchdog bounding a peer that trickles.
            sock.settimeout(connect)
            try:
                # The head and the body in one write: one system call and one segment, one wake-up.
                sock.sendall(head + body if body else head)
            except BrokenPipeError:
                pass  # the peer may have answered before closing (a 413, say): its answer is read next
            sock.settimeout(max(deadline.remaining(), 0.001))
            response = http.client.HTTPResponse(sock, method=method)
            response.begin()
            status = response.status
            response_headers: dict[str, str] = {}
            for name, value in response.msg.items():
                name = name.lower()
                response_headers[name] = f"{response_headers[name]}, {value}" if name in response_headers else value
            raw_body, truncated = _read_body(response, deadline, limit)
            complete = not truncated
        except (OutboundError, _ConnectFailed):
            raise
        except Exception as exc:  # noqa: BLE001 - every transport failure must become an OutboundError
            raise _translate(exc, deadline, addr, target.host) from None
    finally:
        deadline.finish()
        if response is not None:
            response.close()
        if sock is not None:
            if complete and not response.will_close:
                connections[key] = sock
                while len(connections) > _MAX_CONNECTIONS:
                    connections.pop(next(iter(connections))).close()
            else:
                # Unread body bytes (truncated) or a broken exchange: the connection must not serve another call.
                sock.close()

    return OutboundResponse(
        status_code=status,
        headers=response_headers,
        body=raw_body,
        truncated=truncated,
        elapsed_ms=(time.monotonic() - started) * 1000,
        address=address,
    )


def _read_body(response: http.client.HTTPResponse, deadline: _Deadline, limit: int) -> tuple[bytes, bool]:
    decoder = _Decoder.for_encoding(response.getheader("Content-Encoding"))
    chunks: list[bytes] = []
    size = 0
    while True:
        if deadline.expired or deadline.remaining() <= 0:
            raise deadline.error()
        # read1 returns whatever has arrived instead of waiting to fill the chunk, so the deadline check
        # above runs between small reads; reading one byte past the limit tells "exactly full" from "cut".
        want = min(_READ_CHUNK, limit + 1 - size)
        data = response.read1(want) if decoder is None else decoder.read(response, want)
        if not data:
            break
        chunks.append(data)
        size += len(data)
        if size > limit:
            return b"".join(chunks)[:limit], True
    if deadline.expired:
        # The watchdog's shutdown can look like a clean end of body; a cut body must not pass as complete.
        raise deadline.error()
    if response.length:
        # Fewer bytes than Content-Length said, then the end of the connection.
        raise http.client.IncompleteRead(b"", response.length)
    return b"".join(chunks), False


class _Decoder:
    """Undoes a Content-Encoding the caller asked for (gzip, deflate; several in order), never producing
    more than is asked for at a time, so the size cap bounds the decoded body and not the compressed one."""

    _KNOWN = ("gzip", "x-gzip", "deflate")

    def __init__(self, encodings: list[str]) -> None:
        # The last encoding applied is the first to undo.
        self._stages = [_Stage(name) for name in reversed(encodings)]

    @classmethod
    def for_encoding(cls, header: str | None) -> _Decoder | None:
        if not header:
            return None
        encodings = [part.strip() for part in header.lower().split(",")]
        encodings = [name for name in encodings if name in cls._KNOWN]
        return cls(encodings) if encodings else None

    def read(self, response: http.client.HTTPResponse, want: int) -> bytes:
        return self._pull(len(self._stages) - 1, response, want)

    def _pull(self, index: int, response: http.client.HTTPResponse, want: int) -> bytes:
        stage = self._stages[index]
        while True:
            data = stage.more(want)
            if data:
                return data
            if stage.ended:
                return b""
            fed = response.read1(_READ_CHUNK) if index == 0 else self._pull(index - 1, response, _READ_CHUNK)
            if not fed:
                return stage.finish()
            stage.feed(fed)


class _Stage:
    def __init__(self, name: str) -> None:
        self._gzip = name != "deflate"
        self._first = True
        self._pending = b""
        self.ended = False
        self._new()

    def _new(self) -> None:
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> None:
        self._pending += data

    def more(self, want: int) -> bytes:
        if not self._pending:
            return b""
        data, self._pending = self._pending, b""
        try:
            out = self._obj.decompress(data, want)
        except zlib.error:
            if self._gzip or not self._first:
                raise
            # "deflate" is often sent raw, without the zlib wrapper.
            self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._obj.decompress(data, want)
        self._first = False
        self._pending = self._obj.unconsumed_tail
        if self._obj.eof:
            rest = self._obj.unused_data
            if self._gzip and rest.strip(b"\x00"):
                self._new()  # another gzip member follows
                self._pending = rest + self._pending
            else:
                self.ended = not self._pending
        return out

    def finish(self) -> bytes:
        self.ended = True
        return self._obj.flush()
