"""Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature)."""

import base64
import hashlib
import hmac
import time


def signing_key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return raw.encode()


def sign(*, secret: str, message_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def verify(*, secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does; used by the tests and the demo receiver."""
    lowered = {k.lower(): v for k, v in headers.items()}
    expected = sign(
        secret=secret,
        message_id=lowered.get("webhook-id", ""),
        body=body,
        timestamp=int(lowered.get("webhook-timestamp", "0") or 0),
    )["webhook-signature"]
    return any(hmac.compare_digest(expected, candidate) for candidate in lowered.get("webhook-signature", "").split())
