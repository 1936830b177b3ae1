"""The one HTTP client for every request Flowsite sends to a user-supplied URL.

This module is a security boundary against SSRF: flow authors choose the URLs, so nothing may reach
loopback, private networks, cloud metadata endpoints and the like unless an operator explicitly allowed
the network in ``OUTBOUND_ALLOWED_NETWORKS``.

How the guarantees are kept:

* The URL is parsed once here and the request URL is rebuilt from the parsed parts, so no second parser
  (requests/urllib3) can interpret the host differently from the one that was checked.
* The host is resolved exactly once (``resolve_host``), *every* resulting address is checked, and the
  connection is then made to the checked IP itself. The original name is only used for the ``Host``
  header and, for https, for SNI and certificate verification. There is no second DNS lookup, so DNS
  rebinding cannot swap the address between check and connect.
* Redirects are never followed, proxies/netrc from the environment are ignored and cookies are never
  stored (one pooled session per thread serves every flow).
* A watchdog shuts the socket down when the total deadline passes, so neither a silent server nor one
  trickling headers or body bytes can hold a worker longer than ``OUTBOUND_TOTAL_TIMEOUT``.
* Error messages name hosts, addresses and ports only - never header values, paths or query strings,
  and exceptions are raised ``from None`` so tracebacks in logs do not carry urllib3's URL-bearing text.

Settings (read on every call): OUTBOUND_ALLOWED_NETWORKS, OUTBOUND_CONNECT_TIMEOUT, OUTBOUND_TOTAL_TIMEOUT,
OUTBOUND_MAX_RESPONSE_BYTES and, optionally, OUTBOUND_CA_BUNDLE (path to a PEM bundle to trust instead of
certifi's, e.g. for an internal CA; unset means certifi).
"""

from __future__ import annotations

import errno
import functools
import heapq
import http.client
import http.cookiejar
import ipaddress
import itertools
import json
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import idna
import requests
import urllib3.exceptions
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = [
    "OutboundError",
    "OutboundResponse",
    "check_url",
    "is_address_allowed",
    "redact_headers",
    "redact_text",
    "resolve_host",
    "send",
    "validate_header",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REDACTED = "[redacted]"
USER_AGENT = "Flowsite (+outbound)"

_DEFAULT_PORTS = {"http": 80, "https": 443}
_READ_CHUNK = 64 * 1024


# --------------------------------------------------------------------------------------------------------------
# Errors and responses


class OutboundError(Exception):
    """A request that could not be made or completed.

    ``kind`` is one of "invalid_url", "invalid_request", "invalid_header", "refused", "dns", "connect",
    "timeout" or "connection". ``message`` is short, human and safe to show to the flow's author.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"OutboundError(kind={self.kind!r}, message={self.message!r})"


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
        try:
            return json.loads(self.body)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
            return None


# --------------------------------------------------------------------------------------------------------------
# Headers and secrets

# RFC 9110 "token": what a header name may consist of.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Framing headers are computed by the client; letting a flow set them invites request smuggling or a
# Host that disagrees with the address that was checked.
_MANAGED_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
# Control characters other than HTAB are not valid in a field value (RFC 9110 5.5); CR/LF/NUL are the
# dangerous ones (header injection), the rest are refused because servers disagree on how to handle them.
_BAD_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

_SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"})
_SENSITIVE_PARTS = ("token", "secret", "password", "auth", "key", "signature")


def _describe_name(name: object) -> str:
    # Names are not secret, but a garbage name can be long or contain control characters.
    text = repr(name) if isinstance(name, str) else type(name).__name__
    return text if len(text) <= 66 else text[:63] + "..."


def validate_header(name: str, value: str) -> None:
    """Raise ValueError (with a message that never includes the value) if the header may not be sent."""
    if not isinstance(name, str) or not _TOKEN_RE.fullmatch(name):
        raise ValueError(
            f"header name {_describe_name(name)} is not valid: use letters, digits and !#$%&'*+-.^_`|~ only"
        )
    if name.lower() in _MANAGED_HEADERS:
        raise ValueError(f'header "{name}" is set automatically and cannot be given')
    if not isinstance(value, str):
        raise ValueError(f'header "{name}" must have a text value')
    if _BAD_VALUE_RE.search(value):
        raise ValueError(f'header "{name}" has an invalid value: it must not contain CR, LF, NUL or control characters')


def is_sensitive_header(name: str, secret_names: Iterable[str] = ()) -> bool:
    lowered = name.lower()
    if lowered in _SENSITIVE_HEADERS or any(part in lowered for part in _SENSITIVE_PARTS):
        return True
    return lowered in {secret.lower() for secret in secret_names}


def redact_headers(headers: Mapping[str, str] | None, secret_names: Iterable[str] = ()) -> dict[str, str]:
    """A copy of ``headers`` safe to store or display: credential-like values become "[redacted]"."""
    secret_names = tuple(secret_names)
    return {
        name: REDACTED if is_sensitive_header(name, secret_names) else value for name, value in (headers or {}).items()
    }


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each non-empty secret in ``text`` with "[redacted]"."""
    # Longest first, so a secret that contains another one is not left half-visible.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


# --------------------------------------------------------------------------------------------------------------
# Address policy

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Checked explicitly (in addition to Python's is_global) because ipaddress' notion of "global" changed
# between Python releases and misses several of these (e.g. 64:ff9b::/96, 2002::/16, ::/96 on 3.11).
_BLOCKED_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("0.0.0.0/8"), "unspecified / this network"),
    (_V4("10.0.0.0/8"), "private network"),
    (_V4("100.64.0.0/10"), "shared address space (CGNAT)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private network"),
    (_V4("192.0.0.0/24"), "IETF protocol assignments"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "6to4 relay anycast"),
    (_V4("192.168.0.0/16"), "private network"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::/8"), "reserved (includes IPv4-compatible addresses)"),
    (_V6("64:ff9b:1::/48"), "local-use NAT64"),
    (_V6("100::/64"), "discard-only"),
    (_V6("2001::/23"), "IETF protocol assignments (includes Teredo)"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("5f00::/16"), "SRv6"),
    (_V6("fc00::/7"), "unique local"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("ff00::/8"), "multicast"),
)
_NAT64 = _V6("64:ff9b::/96")


def _parse_address(address: str) -> IPAddress | None:
    try:
        # getaddrinfo reports link-local IPv6 with a "%zone"; the zone does not change the verdict.
        return ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 host an IPv6 address actually reaches (IPv4-mapped, NAT64), if any."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@functools.lru_cache(maxsize=8)
def _parse_networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"OUTBOUND_ALLOWED_NETWORKS: {entry!r} is not a valid network") from None
    return tuple(networks)


def _allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    entries = getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", None) or ()
    if isinstance(entries, str):
        entries = [part for part in entries.split(",") if part.strip()]
    return _parse_networks(tuple(entries))


def _in_allowed_networks(ip: IPAddress) -> bool:
    candidates = [ip]
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        candidates.append(embedded)
    return any(c.version == net.version and c in net for c in candidates for net in _allowed_networks())


def _refusal_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, or None if it is one."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        # ::ffff:a.b.c.d and 64:ff9b::a.b.c.d connect to a.b.c.d, so that is what must be judged.
        inner = _refusal_reason(embedded)
        return None if inner is None else f"embeds {embedded}: {inner}"
    if ip.version == 6 and ip.sixtofour is not None:
        inner = _refusal_reason(ip.sixtofour)
        if inner is not None:
            return f"6to4 address embedding {ip.sixtofour}: {inner}"
    for network, reason in _BLOCKED_NETWORKS:
        if ip.version == network.version and ip in network:
            return reason
    if ip.is_multicast:
        return "multicast"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:
        return "not a public address"
    return None


def is_address_allowed(address: str) -> bool:
    """True if Flowsite may connect to this IP address (a string; anything unparsable is refused)."""
    ip = _parse_address(address)
    if ip is None:
        return False
    return _in_allowed_networks(ip) or _refusal_reason(ip) is None


def _check_address(address: str, host: str, literal: bool) -> None:
    ip = _parse_address(address)
    if ip is None:
        raise OutboundError("refused", f"host {host} resolved to an unusable address")
    if _in_allowed_networks(ip):
        return
    reason = _refusal_reason(ip)
    if reason is None:
        return
    source = "" if literal else f", resolved from host {host}"
    raise OutboundError("refused", f"address {ip} is not allowed ({reason}{source})")


# --------------------------------------------------------------------------------------------------------------
# URL parsing and resolution


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # lower-case ASCII (IDNA) name or canonical IP text, no brackets, no trailing dot
    port: int
    host_header: str
    path: str  # path and query, what goes on the request line
    literal: bool  # host was an IP address, so there is nothing to resolve


_HOSTNAME_RE = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
# WHATWG "ends in a number": such hosts are IPv4 addresses in some spelling (2130706433, 0x7f.1, 0177.0.0.1)
# and must never be handed to DNS as names.
_NUMERIC_LABEL_RE = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")


def _invalid(message: str) -> OutboundError:
    return OutboundError("invalid_url", message)


def _parse_url(url: str) -> _Target:
    if not isinstance(url, str) or not url:
        raise _invalid("URL is empty")
    # urlsplit silently drops tabs/newlines and tolerates spaces; refusing them up front keeps what we
    # check identical to what a human reads.
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise _invalid("URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _invalid("URL is not valid (check the host and port)") from None

    scheme = parts.scheme.lower()
    if not scheme:
        raise _invalid("URL has no scheme: it must start with http:// or https://")
    if scheme not in _DEFAULT_PORTS:
        shown = scheme if len(scheme) <= 20 else scheme[:20] + "..."
        raise _invalid(f'scheme "{shown}" is not allowed: use http or https')
    if not parts.netloc:
        raise _invalid("URL has no host")
    if "@" in parts.netloc:
        raise _invalid("credentials in the URL are not allowed: send them in a header")
    if port is None:
        port = _DEFAULT_PORTS[scheme]
    elif port == 0:
        raise _invalid("URL has an invalid port")

    raw_host = parts.hostname or ""
    bracketed = parts.netloc.startswith("[")
    literal_ip: IPAddress | None = None
    if bracketed:
        if "%" in raw_host:
            raise _invalid("IPv6 zone identifiers are not allowed in URLs")
        try:
            literal_ip = ipaddress.IPv6Address(raw_host)
        except ValueError:
            raise _invalid("URL has an invalid IPv6 address") from None
        host = str(literal_ip)
    else:
        host = raw_host[:-1] if raw_host.endswith(".") else raw_host
        if not host:
            raise _invalid("URL has no host")
        if not host.isascii():
            try:
                host = idna.encode(host, uts46=True).decode("ascii")
            except (idna.IDNAError, UnicodeError):
                raise _invalid("URL host is not a valid domain name") from None
        host = host.lower()
        if not _HOSTNAME_RE.fullmatch(host):
            raise _invalid("URL host is not a valid domain name")
        if _NUMERIC_LABEL_RE.fullmatch(host.rsplit(".", 1)[-1]):
            try:
                # inet_aton accepts exactly the legacy spellings browsers and resolvers accept.
                literal_ip = ipaddress.IPv4Address(socket.inet_aton(host))
            except OSError:
                raise _invalid("URL host looks like an IP address but is not a valid one") from None
            host = str(literal_ip)

    host_header = f"[{host}]" if bracketed else host
    if port != _DEFAULT_PORTS[scheme]:
        host_header = f"{host_header}:{port}"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Target(scheme, host, port, host_header, path, literal=literal_ip is not None)


def resolve_host(host: str, port: int) -> list[str]:
    """All addresses ``host`` resolves to (module-level so tests can substitute a stub resolver)."""
    addresses: list[str] = []
    for family, _type, _proto, _canon, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    return addresses


# getaddrinfo cannot be interrupted, so it runs on a helper thread and the caller stops waiting at the deadline.
_resolver_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="outbound-dns")


def _resolve(target: _Target, timeout: float) -> list[str]:
    if target.literal:
        return [target.host]
    future = _resolver_pool.submit(resolve_host, target.host, target.port)
    try:
        addresses = future.result(timeout=max(timeout, 0.001))
    except FutureTimeoutError:
        raise OutboundError("timeout", f"resolving host {target.host} timed out after {_seconds(timeout)}s") from None
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        raise OutboundError("dns", f"could not resolve host {target.host}") from None
    if not addresses:
        raise OutboundError("dns", f"could not resolve host {target.host}")
    return list(addresses)


def _checked_addresses(target: _Target, timeout: float) -> list[str]:
    addresses = _resolve(target, timeout)
    # One bad address refuses the whole host: which one a client would use is not under our control.
    for address in addresses:
        _check_address(address, target.host, target.literal)
    return addresses


def check_url(url: str) -> tuple[str, list[str]]:
    """Validate ``url`` and its addresses now. Returns (host, addresses) or raises OutboundError.

    Passing this check is not a licence to use the URL later with another client - DNS can change.
    ``send`` repeats the check and pins the connection to the checked address.
    """
    target = _parse_url(url)
    return target.host, _checked_addresses(target, float(settings.OUTBOUND_TOTAL_TIMEOUT))


def check_url_literal(url: str) -> None:
    """Refuse now, without resolving anything, a URL whose host is an IP address (in any spelling
    ``send`` understands) that ``send`` would refuse; raises OutboundError with the same message.

    For saving a step: a literal address cannot change before the run, a host name can (DNS may
    answer differently then), so names and URLs this parser cannot read are left to ``send``."""
    try:
        target = _parse_url(url)
    except OutboundError:
        return
    if target.literal:
        _check_address(target.host, target.host, True)


# --------------------------------------------------------------------------------------------------------------
# Deadline watchdog and pinned connections

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
        return OutboundError("timeout", f"timed out after {_seconds(self.label)}s")

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

    def request(self, *args: Any, **kwargs: Any) -> None:
        # A reused or already-handshaken connection: its (possibly TLS) socket is what the exchange blocks on.
        self._watch(self.sock)  # type: ignore[attr-defined]
        super().request(*args, **kwargs)  # type: ignore[misc]


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


class _RejectAllCookies(http.cookiejar.DefaultCookiePolicy):
    # The per-thread session is shared by unrelated flows; a cookie set by one receiver must never be
    # replayed on another flow's request.
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False


def _session() -> requests.Session:
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        # Proxies from the environment would resolve the host again on the proxy (defeating the pin) and
        # netrc would attach credentials nobody configured.
        session.trust_env = False
        session.proxies = {}
        session.cookies.set_policy(_RejectAllCookies())
        session.headers.clear()
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"})
        adapter = _PinnedAdapter(pool_connections=32, pool_maxsize=2, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _local.session = session
    return session


# --------------------------------------------------------------------------------------------------------------
# Sending

_METHOD_RE = re.compile(r"[A-Za-z]+")


def _seconds(value: float) -> str:
    return f"{value:g}"


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
        return OutboundError("timeout", f"connecting to {addr} timed out after {_seconds(connect_timeout)}s")
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


def _prepare_headers(headers: Mapping[str, str] | None, host_header: str) -> dict[str, str | bytes]:
    prepared: dict[str, str | bytes] = {}
    for name, value in (headers or {}).items():
        try:
            validate_header(name, value)
        except ValueError as exc:
            raise OutboundError("invalid_header", str(exc)) from None
        # Optional whitespace around a field value is not part of it (and requests rejects leading spaces).
        value = value.strip(" \t")
        try:
            value.encode("latin-1")
            prepared[name] = value
        except UnicodeEncodeError:
            # http.client can only encode latin-1 text; UTF-8 bytes are what other clients send.
            prepared[name] = value.encode("utf-8")
    prepared["Host"] = host_header
    return prepared


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
    connect_timeout: float | None = None,
    total_timeout: float | None = None,
    max_bytes: int | None = None,
) -> OutboundResponse:
    """Send one request to a user-supplied URL, with every SSRF and resource guard applied.

    Redirects are returned, not followed. A body larger than ``max_bytes`` is cut at ``max_bytes`` with
    ``truncated=True``. Every failure is an OutboundError.
    """
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

    target = _parse_url(url)
    prepared_headers = _prepare_headers(headers, target.host_header)
    addresses = _checked_addresses(target, total_timeout)
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
    raise AssertionError("unreachable: _checked_addresses never returns an empty list")


class _ConnectFailed(Exception):
    """The connection could not be opened, so the request was not sent and another address may be tried."""

    def __init__(self, error: OutboundError) -> None:
        super().__init__(error.message)
        self.error = error


def _attempt(
    method: str,
    target: _Target,
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
    session = _session()
    try:
        request = session.prepare_request(
            requests.Request(
                method, f"{target.scheme}://{url_host}:{target.port}{target.path}", headers=headers, data=body
            )
        )
    except (requests.RequestException, ValueError):
        raise _invalid("URL is not valid") from None
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
            response = session.send(
                request,
                stream=True,
                allow_redirects=False,
                timeout=(connect, remaining),
                verify=ca_bundle or True,
                proxies={},
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
