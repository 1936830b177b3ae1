"""URL and header checks: a URL parsed once into the target that is connected to, its host resolved
once and every address checked, and header names and values that may be sent."""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna
from django.conf import settings

from flowsite.outbound.addresses import IPAddress, check_address
from flowsite.outbound.errors import OutboundError, seconds

_DEFAULT_PORTS = {"http": 80, "https": 443}

# RFC 9110 "token": what a header name may consist of.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Framing headers are computed by the client; letting a flow set them invites request smuggling or a
# Host that disagrees with the address that was checked.
_MANAGED_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
# Control characters other than HTAB are not valid in a field value (RFC 9110 5.5); CR/LF/NUL are the
# dangerous ones (header injection), the rest are refused because servers disagree on how to handle them.
_BAD_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


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


def prepare_headers(headers: Mapping[str, str] | None, host_header: str) -> dict[str, str | bytes]:
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


@dataclass(frozen=True)
class Target:
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


def invalid_url(message: str) -> OutboundError:
    return OutboundError("invalid_url", message)


def parse_url(url: str) -> Target:
    if not isinstance(url, str) or not url:
        raise invalid_url("URL is empty")
    # urlsplit silently drops tabs/newlines and tolerates spaces; refusing them up front keeps what we
    # check identical to what a human reads.
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise invalid_url("URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise invalid_url("URL is not valid (check the host and port)") from None

    scheme = parts.scheme.lower()
    if not scheme:
        raise invalid_url("URL has no scheme: it must start with http:// or https://")
    if scheme not in _DEFAULT_PORTS:
        shown = scheme if len(scheme) <= 20 else scheme[:20] + "..."
        raise invalid_url(f'scheme "{shown}" is not allowed: use http or https')
    if not parts.netloc:
        raise invalid_url("URL has no host")
    if "@" in parts.netloc:
        raise invalid_url("credentials in the URL are not allowed: send them in a header")
    if port is None:
        port = _DEFAULT_PORTS[scheme]
    elif port == 0:
        raise invalid_url("URL has an invalid port")

    raw_host = parts.hostname or ""
    bracketed = parts.netloc.startswith("[")
    literal_ip: IPAddress | None = None
    if bracketed:
        if "%" in raw_host:
            raise invalid_url("IPv6 zone identifiers are not allowed in URLs")
        try:
            literal_ip = ipaddress.IPv6Address(raw_host)
        except ValueError:
            raise invalid_url("URL has an invalid IPv6 address") from None
        host = str(literal_ip)
    else:
        host = raw_host[:-1] if raw_host.endswith(".") else raw_host
        if not host:
            raise invalid_url("URL has no host")
        if not host.isascii():
            try:
                host = idna.encode(host, uts46=True).decode("ascii")
            except (idna.IDNAError, UnicodeError):
                raise invalid_url("URL host is not a valid domain name") from None
        host = host.lower()
        if not _HOSTNAME_RE.fullmatch(host):
            raise invalid_url("URL host is not a valid domain name")
        if _NUMERIC_LABEL_RE.fullmatch(host.rsplit(".", 1)[-1]):
            try:
                # inet_aton accepts exactly the legacy spellings browsers and resolvers accept.
                literal_ip = ipaddress.IPv4Address(socket.inet_aton(host))
            except OSError:
                raise invalid_url("URL host looks like an IP address but is not a valid one") from None
            host = str(literal_ip)

    host_header = f"[{host}]" if bracketed else host
    if port != _DEFAULT_PORTS[scheme]:
        host_header = f"{host_header}:{port}"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme, host, port, host_header, path, literal=literal_ip is not None)


def resolve_host(host: str, port: int) -> list[str]:
    """All addresses ``host`` resolves to. Tests substitute a stub resolver on the package
    (``flowsite.outbound.resolve_host``), which is where ``_resolve`` looks it up."""
    addresses: list[str] = []
    for family, _type, _proto, _canon, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    return addresses


# getaddrinfo cannot be interrupted, so it runs on a helper thread and the caller stops waiting at the deadline.
_resolver_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="outbound-dns")


def _resolve(target: Target, timeout: float) -> list[str]:
    if target.literal:
        return [target.host]
    # Looked up on the package at call time, not bound at import: the package's name is the one
    # callers know, so a substituted resolver must take effect there.
    resolver = getattr(sys.modules[__package__], "resolve_host", resolve_host)
    future = _resolver_pool.submit(resolver, target.host, target.port)
    try:
        addresses = future.result(timeout=max(timeout, 0.001))
    except FutureTimeoutError:
        raise OutboundError("timeout", f"resolving host {target.host} timed out after {seconds(timeout)}s") from None
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        raise OutboundError("dns", f"could not resolve host {target.host}") from None
    if not addresses:
        raise OutboundError("dns", f"could not resolve host {target.host}")
    return list(addresses)


def checked_addresses(target: Target, timeout: float) -> list[str]:
    addresses = _resolve(target, timeout)
    # One bad address refuses the whole host: which one a client would use is not under our control.
    for address in addresses:
        check_address(address, target.host, target.literal)
    return addresses


def check_url(url: str) -> tuple[str, list[str]]:
    """Validate ``url`` and its addresses now. Returns (host, addresses) or raises OutboundError.

    Passing this check is not a licence to use the URL later with another client - DNS can change.
    ``send`` repeats the check and pins the connection to the checked address.
    """
    target = parse_url(url)
    return target.host, checked_addresses(target, float(settings.OUTBOUND_TOTAL_TIMEOUT))


def check_url_literal(url: str) -> None:
    """Refuse now, without resolving anything, a URL whose host is an IP address (in any spelling
    ``send`` understands) that ``send`` would refuse; raises OutboundError with the same message.

    For saving a step: a literal address cannot change before the run, a host name can (DNS may
    answer differently then), so names and URLs this parser cannot read are left to ``send``."""
    try:
        target = parse_url(url)
    except OutboundError:
        return
    if target.literal:
        check_address(target.host, target.host, True)


# A placeholder ({{trigger.x}}) in a stored URL: filled in when the step runs, when send() checks the
# final URL; at save time the text around it must already make an http(s) URL with a host.
_PLACEHOLDER_RE = re.compile(r"\{\{.*?\}\}")
MAX_URL_LENGTH = 2000


def validate_call_url(url: object, *, placeholders: bool = False) -> str:
    """The one check of a URL a step will call, when it is saved (API Call, webhook, any step type
    that calls out): the URL stripped, or ValueError saying what is wrong. The addresses are checked
    again by send() when the call is made."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("is required")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
    probe = _PLACEHOLDER_RE.sub("x", url) if placeholders else url
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in probe):
        raise ValueError("must not contain spaces or line breaks")
    try:
        parts = urlsplit(probe)
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    # A literal address the policy refuses can never be called: say so now, as the run would. (A
    # placeholder stands for text here, so a host that is all or part placeholder is left to send().)
    try:
        check_url_literal(probe)
    except OutboundError as exc:
        raise ValueError(exc.message) from None
    return url
