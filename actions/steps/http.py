"""What the API Call step and the workflow webhook share: headers with secrets, the signed
request through the outbound boundary, and redacted records of what went out and came back."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from rest_framework import serializers

from actions.steps.base import HeaderSerializer, StepConfigError, StepConfigSerializer, StepFailed
from actions.steps.signing import sign
from flowsite.outbound import (
    OutboundError,
    is_sensitive_header,
    redact_headers,
    redact_text,
    secret_forms,
    send,
    validate_call_url,
    validate_header,
)
from flowsite.secrets import SecretUnreadable, decrypt, encrypt, is_encrypted

SECRET_MASK = "********"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
EXCERPT_CHARS = 500
MAX_HEADERS = 30
HEADER_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


def new_header_id() -> str:
    return uuid.uuid4().hex[:12]


def clean_url(config: dict, key: str = "url", *, placeholders: bool = False) -> str:
    """The URL a step calls, checked by the one rule for URLs called out (flowsite.outbound)."""
    try:
        return validate_call_url(config.get(key), placeholders=placeholders)
    except ValueError as exc:
        raise StepConfigError(key, str(exc))


def call_summary(config: dict) -> str:
    """ "POST hooks.example.com/deals/new · 2 headers": the method, then the whole host and path
    (the scheme says little, the query may carry a token)."""
    url = str(config.get("url", ""))
    try:
        parts = urlsplit(url)
        where = f"{parts.netloc}{parts.path}" if parts.netloc else url
    except ValueError:
        where = url
    count = len(config.get("headers") or [])
    extra = f" · {count} header{'s' if count != 1 else ''}" if count else ""
    return f"{config.get('method', 'POST')} {where}{extra}"


class CallConfig(StepConfigSerializer):
    """The config fields of a step that calls a URL (API Call, webhook)."""

    url = serializers.CharField(max_length=2000, help_text="An http:// or https:// URL.")
    method = serializers.ChoiceField(choices=METHODS, required=False, default="POST")
    headers = HeaderSerializer(many=True, required=False)


def clean_method(config: dict, default: str = "POST") -> str:
    method = config.get("method") or default
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise StepConfigError("method", f"must be one of {', '.join(METHODS)}")
    return method.upper()


def origin(url: Any) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL, the port filled in for http and https; None if unreadable."""
    try:
        parts = urlsplit(str(url or ""))
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not scheme or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or {"http": 80, "https": 443}.get(scheme)


def clean_headers(
    value: Any, old: list[dict] | None = None, *, url: str | None = None, old_url: str | None = None
) -> list[dict]:
    """Headers as [{"id", "name", "value", "secret"}]; a dict {name: value} is accepted too.
    A value equal to the mask keeps the stored value of the row it stands for: the stored row with
    the same id when the row carries one (both editors and API clients that send ids back), else,
    for a row without an id, the stored row of the same name. Never the row at the same place.

    A stored secret is kept only while the request goes to the origin (scheme, host, port) it was
    stored for (`old_url`): someone who may edit the step but never saw the secret must not be able
    to send it to a host of their choosing by changing the URL and leaving the mask. A new origin
    needs the secret typed again. (Both editors and the APIs validate through here.)"""
    same_origin = url is None or (origin(url) is not None and origin(url) == origin(old_url))
    if value is None:
        return []
    if isinstance(value, dict):
        value = [{"name": k, "value": v} for k, v in value.items()]
    if not isinstance(value, list):
        raise StepConfigError("headers", "must be a list of {name, value} or an object")
    if len(value) > MAX_HEADERS:
        raise StepConfigError("headers", f"at most {MAX_HEADERS} headers")
    previous_by_id = {h["id"]: h for h in (old or []) if h.get("id")}
    previous_by_name = {h["name"].lower(): h for h in (old or [])}
    cleaned: list[dict] = []
    seen: set[str] = set()
    seen_ids: set[str] = set()
    for index, item in enumerate(value):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("value", ""), str)
        ):
            raise StepConfigError(f"headers[{index}]", "must have a string name and value")
        row_id = item.get("id") or None
        if row_id is not None and (not isinstance(row_id, str) or not HEADER_ID.fullmatch(row_id)):
            raise StepConfigError(f"headers[{index}].id", "is not a header row id")
        if row_id is not None and row_id in seen_ids:
            raise StepConfigError(f"headers[{index}].id", "is given twice")
        name = item["name"].strip()
        header_value = item.get("value", "")
        if name.lower() in seen:
            raise StepConfigError(f"headers[{index}].name", f'header "{name}" is given twice')
        if name.lower() in {"content-type", "content-length", "host", "transfer-encoding"} or name.lower().startswith(
            "webhook-"
        ):
            raise StepConfigError(f"headers[{index}].name", f'"{name}" is set by Flowsite')
        secret = bool(item.get("secret")) or is_sensitive_header(name)
        if header_value == SECRET_MASK:
            stored = previous_by_id.get(row_id) if row_id else previous_by_name.get(name.lower())
            if stored is None:
                raise StepConfigError(f"headers[{index}].value", "enter the secret value")
            if stored.get("secret") and not same_origin:
                raise StepConfigError(f"headers[{index}].value", "re-enter the secret to send it to a new host")
            header_value = stored["value"]
        if not is_encrypted(header_value):
            try:
                validate_header(name, header_value)
            except ValueError as exc:
                raise StepConfigError(f"headers[{index}]", str(exc))
            if secret:
                header_value = encrypt(header_value)
        seen.add(name.lower())
        row_id = row_id or new_header_id()
        seen_ids.add(row_id)
        cleaned.append({"id": row_id, "name": name, "value": header_value, "secret": secret})
    return cleaned


def public_headers(headers: list[dict]) -> list[dict]:
    return [{**h, "value": SECRET_MASK if h.get("secret") else h["value"]} for h in headers or []]


def secret_values(headers: list[dict]) -> list[str]:
    """Secret header values in clear, in every form that must be redacted (see secret_forms)."""
    values: list[str] = []
    for header in headers or []:
        if header.get("secret"):
            values += secret_forms(decrypt(header.get("value") or ""))
    return values


def excerpt(text: str, secrets: list[str]) -> str:
    text = redact_text(text, secrets)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def signed_send(
    *,
    method: str,
    url: str,
    headers: list[dict],
    payload: Any,
    idempotency_key: str,
    signing_secret: str,
    extra_secrets: list[str] | None = None,
):
    """Send JSON through the outbound boundary, signed. Returns (response, request_record, secrets).
    Raises StepFailed for refusals and network errors, with a redacted request record."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        secrets = secret_values(headers) + list(extra_secrets or [])
        out_headers = {h["name"]: decrypt(h["value"]) for h in headers}
        # The flow reads its signing secret in clear; one still encrypted here could not be read.
        signing_secret = decrypt(signing_secret)
    except SecretUnreadable as exc:
        raise StepFailed(str(exc))
    out_headers["Content-Type"] = "application/json"
    out_headers["Idempotency-Key"] = idempotency_key
    out_headers.update(sign(secret=signing_secret, message_id=idempotency_key, body=body))
    secret_names = [h["name"] for h in headers if h.get("secret")]
    request_record = {
        "method": method,
        "url": redact_text(url, secrets),
        # The idempotency id is no secret, and a person debugging a receiver needs it.
        "headers": {**redact_headers(out_headers, secret_names), "Idempotency-Key": idempotency_key},
        "body": excerpt(body.decode(), secrets),
    }
    try:
        response = send(method, url, headers=out_headers, body=body if method != "GET" else None, secrets=secrets)
    except OutboundError as exc:
        raise StepFailed(exc.message, request=request_record, retryable=exc.retryable) from None
    return response, request_record, secrets


def response_record(response, secrets: list[str]) -> dict:
    return {
        "status_code": response.status_code,
        "headers": redact_headers(dict(response.headers)),
        "body": excerpt(response.text(), secrets),
        "truncated": response.truncated,
        "elapsed_ms": round(response.elapsed_ms, 2),
    }
