"""What the API Call step and the workflow webhook share: headers with secrets, the signed
request through the outbound boundary, and redacted records of what went out and came back."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from actions.steps.base import StepConfigError, StepFailed
from actions.steps.signing import sign
from flowsite.outbound import (
    OutboundError,
    check_url_literal,
    is_sensitive_header,
    redact_headers,
    redact_text,
    secret_forms,
    send,
    validate_header,
)
from flowsite.secrets import SecretUnreadable, decrypt, encrypt, is_encrypted

SECRET_MASK = "********"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
EXCERPT_CHARS = 500
MAX_HEADERS = 30


def clean_url(config: dict, key: str = "url") -> str:
    url = config.get(key)
    if not isinstance(url, str) or not url.strip():
        raise StepConfigError(key, "is required")
    url = url.strip()
    if len(url) > 2000:
        raise StepConfigError(key, "must be at most 2000 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise StepConfigError(key, "must be an http:// or https:// URL")
    if any(c in url for c in "\r\n\t "):
        raise StepConfigError(key, "must not contain spaces or line breaks")
    refuse_literal_address(url, key)
    return url


def refuse_literal_address(url: str, key: str = "url") -> None:
    """A URL whose host is an address the outbound policy refuses can never be called: say so when
    the step is saved, with the message the run would give."""
    try:
        check_url_literal(url)
    except OutboundError as exc:
        raise StepConfigError(key, exc.message)


def clean_method(config: dict, default: str = "POST") -> str:
    method = config.get("method") or default
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise StepConfigError("method", f"must be one of {', '.join(METHODS)}")
    return method.upper()


def clean_headers(value: Any, old: list[dict] | None = None) -> list[dict]:
    """Headers as [{"name", "value", "secret"}]; a dict {name: value} is accepted too.
    A value equal to the mask keeps the stored secret of the same name."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = [{"name": k, "value": v} for k, v in value.items()]
    if not isinstance(value, list):
        raise StepConfigError("headers", "must be a list of {name, value} or an object")
    if len(value) > MAX_HEADERS:
        raise StepConfigError("headers", f"at most {MAX_HEADERS} headers")
    previous = {h["name"].lower(): h for h in (old or [])}
    cleaned: list[dict] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("value", ""), str)
        ):
            raise StepConfigError(f"headers[{index}]", "must have a string name and value")
        name = item["name"].strip()
        header_value = item.get("value", "")
        if name.lower() in seen:
            raise StepConfigError(f"headers[{index}].name", f'header "{name}" is given twice')
        if name.lower() in {"content-type", "content-length", "host", "transfer-encoding"} or name.lower().startswith(
            "webhook-"
        ):
            raise StepConfigError(f"headers[{index}].name", f'"{name}" is set by Flowsite')
        secret = bool(item.get("secret")) or is_sensitive_header(name)
        if header_value == SECRET_MASK and name.lower() in previous:
            header_value = previous[name.lower()]["value"]
        elif header_value == SECRET_MASK:
            raise StepConfigError(f"headers[{index}].value", "enter the secret value")
        if not is_encrypted(header_value):
            try:
                validate_header(name, header_value)
            except ValueError as exc:
                raise StepConfigError(f"headers[{index}]", str(exc))
            if secret:
                header_value = encrypt(header_value)
        seen.add(name.lower())
        cleaned.append({"name": name, "value": header_value, "secret": secret})
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
