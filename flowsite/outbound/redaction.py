"""Redaction: what of a request or its failure must never reach run records, logs or error text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

REDACTED = "[redacted]"

_SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"})
_SENSITIVE_PARTS = ("token", "secret", "password", "auth", "key", "signature")


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


def secret_forms(value: str) -> list[str]:
    """What to redact for one secret value: the value, plus the credential alone for a "Scheme credential"
    value ("Bearer abc123"), since a receiver may echo just the token."""
    if not value:
        return []
    _scheme, _, credential = value.partition(" ")
    credential = credential.strip()
    return [value, credential] if len(credential) >= 4 else [value]
