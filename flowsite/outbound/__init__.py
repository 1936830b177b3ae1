"""The one HTTP client for every request Flowsite sends to a user-supplied URL.

This package is a security boundary against SSRF: flow authors choose the URLs, so nothing may reach
loopback, private networks, cloud metadata endpoints and the like unless an operator explicitly allowed
the network in ``OUTBOUND_ALLOWED_NETWORKS``.

How the guarantees are kept:

* The URL is parsed once here and the request is built from the parsed parts, so no second parser can
  interpret the host differently from the one that was checked.
* The host is resolved exactly once (``resolve_host``), *every* resulting address is checked, and the
  connection is then made to the checked IP itself. The original name is only used for the ``Host``
  header and, for https, for SNI and certificate verification. There is no second DNS lookup, so DNS
  rebinding cannot swap the address between check and connect.
* Redirects are never followed, proxies/netrc from the environment are ignored and cookies are never
  stored (requests go through plain ``http.client`` connections kept per thread and pinned to the
  checked address, with no session, no cookie jar and no environment).
* A watchdog shuts the socket down when the total deadline passes, so neither a silent server nor one
  trickling headers or body bytes can hold a worker longer than ``OUTBOUND_TOTAL_TIMEOUT``.
* Error messages name hosts, addresses and ports only - never header values, paths or query strings,
  and exceptions are raised ``from None`` so tracebacks in logs do not carry a client's URL-bearing text.

Settings (read on every call): OUTBOUND_ALLOWED_NETWORKS, OUTBOUND_CONNECT_TIMEOUT, OUTBOUND_TOTAL_TIMEOUT,
OUTBOUND_MAX_RESPONSE_BYTES and, optionally, OUTBOUND_CA_BUNDLE (path to a PEM bundle to trust instead of
certifi's, e.g. for an internal CA; unset means certifi).

One module per concept: ``addresses`` (which IPs may be reached), ``checks`` (the URL parsed and resolved,
header names and values), ``transport`` (the pinned connection, the deadline, the size cap), ``redaction``
(what never reaches records, logs or error text) and ``errors`` (the one failure type, with ``kind`` and
``retryable``). Callers import from the package.
"""

from flowsite.outbound.addresses import is_address_allowed
from flowsite.outbound.checks import check_url, check_url_literal, resolve_host, validate_call_url, validate_header
from flowsite.outbound.errors import OutboundError
from flowsite.outbound.redaction import REDACTED, is_sensitive_header, redact_headers, redact_text, secret_forms
from flowsite.outbound.transport import OutboundResponse, send

# The process's one deadline thread, for the tests that check it stays small.
from flowsite.outbound.transport import _watchdog as _watchdog

__all__ = [
    "REDACTED",
    "OutboundError",
    "OutboundResponse",
    "check_url",
    "check_url_literal",
    "is_address_allowed",
    "is_sensitive_header",
    "redact_headers",
    "redact_text",
    "resolve_host",
    "secret_forms",
    "send",
    "validate_call_url",
    "validate_header",
]
