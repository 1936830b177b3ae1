"""Outbound signatures checked with the Standard Webhooks reference library, not Flowsite's own code,
so a mistake against the specification shows."""

import base64
import os

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


def assert_signed(request, *, secret: str) -> None:
    """The request a loopback receiver recorded verifies with `secret`, and only with it."""
    headers = dict(request.headers)
    Webhook(secret).verify(request.body, headers)  # raises WebhookVerificationError on a bad signature
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(request.body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body + b" ", headers)
