"""What send_sms and send_whatsapp share: recipients, Twilio credentials, the call through the
twilio library. Registers no step type itself."""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import urlsplit

from django.conf import settings
from rest_framework import serializers

from actions.steps.base import (
    StepConfigError,
    StepConfigSerializer,
    StepFailed,
    StepForm,
    StepResult,
    StepType,
    only_keys,
    require_str,
)
from flowsite.outbound import redact_text
from flowsite.secrets import SecretUnreadable, decrypt
from workflows.steps._common import WORKFLOW, Trigger, has_placeholder

BODY_MAX = 1600  # Twilio's limit for one message body
TWILIO_TIMEOUT = 15.0
E164 = re.compile(r"^\+?[1-9]\d{6,14}$")
WHATSAPP = "whatsapp:"


def phone_number(text: str) -> str | None:
    """A phone number in E.164 form, or None. Spaces, dashes, dots and parentheses are dropped."""
    text = text.strip()
    if text.lower().startswith(WHATSAPP):
        text = text[len(WHATSAPP) :]
    digits = re.sub(r"[\s\-().]", "", text)
    if not E164.match(digits):
        return None
    return digits if digits.startswith("+") else "+" + digits


def twilio_http_client():
    """The library's HTTP client, pointed at TWILIO_API_BASE when the operator (or a test) sets one."""
    # Imported here to save start-up cost: the Twilio library is large and only SMS/WhatsApp steps use it.
    from twilio.http.http_client import TwilioHttpClient

    base = getattr(settings, "TWILIO_API_BASE", "").rstrip("/")
    if not base:
        return TwilioHttpClient(timeout=TWILIO_TIMEOUT)

    class RebasedClient(TwilioHttpClient):
        def request(self, method, url, *args, **kwargs):
            parts = urlsplit(url)
            if (parts.hostname or "").endswith("twilio.com"):
                url = base + url[len(f"{parts.scheme}://{parts.netloc}") :]
            return super().request(method, url, *args, **kwargs)

    client = RebasedClient(timeout=TWILIO_TIMEOUT)
    # The base is an explicit address; proxies from the environment must not reroute it.
    client.session.trust_env = False
    return client


def credentials(organization, *, whatsapp: bool) -> tuple[str, str, str]:
    """(account sid, auth token, from number): the organization's own account when it has one,
    else the operator's settings. Numbers belong to accounts, so the two are never mixed."""
    if organization.twilio_account_sid and organization.twilio_auth_token:
        try:
            token = decrypt(organization.twilio_auth_token)
        except SecretUnreadable:
            raise StepFailed("the organization's Twilio auth token cannot be read; enter it again")
        return organization.twilio_account_sid, token, organization.twilio_from_number
    sender = settings.TWILIO_FROM_NUMBER
    if whatsapp:
        sender = getattr(settings, "TWILIO_WHATSAPP_FROM", "") or sender
    return settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, sender


class MessageConfig(StepConfigSerializer):
    to = serializers.CharField(max_length=200, help_text="A phone number (+15551234567) or {{trigger.phone}}.")
    body = serializers.CharField(max_length=BODY_MAX)


class TwilioMessage(StepType):
    """Base of the two Twilio message types; subclasses set `channel`."""

    contexts = WORKFLOW
    Config = MessageConfig
    form = StepForm("steps/message.html")

    def summary(self, config):
        return f"{self.label} to {config.get('to', '')}: {config.get('body', '')}"

    whatsapp: ClassVar[bool] = False

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"to", "body"})
        to = require_str(config, "to", max_length=200)
        if not has_placeholder(to) and phone_number(to) is None:
            example = "+15551234567 or {{trigger.phone}}"
            raise StepConfigError("to", f'"{to[:40]}" is not a phone number (use {example})')
        return {"to": to, "body": require_str(config, "body", max_length=BODY_MAX)}

    def execute(self, ctx, config):
        # Imported here to save start-up cost (see twilio_http_client).
        from twilio.base.exceptions import TwilioException, TwilioRestException
        from twilio.rest import Client

        trigger = Trigger(ctx)
        raw_to = trigger.text(config["to"])
        to = phone_number(raw_to)
        if to is None:
            raise StepFailed(f'"{raw_to.strip()[:40]}" is not a phone number')
        body = trigger.text(config["body"])
        if not body.strip():
            raise StepFailed("the message is empty")
        body = body[:BODY_MAX]
        sid, token, sender = credentials(trigger.task.flow.organization, whatsapp=self.whatsapp)
        if not (sid and token and sender):
            raise StepFailed(
                "Twilio is not configured: set the organization's Twilio account, token and number "
                "(or TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER)"
            )
        sender = phone_number(sender) or sender
        if self.whatsapp:
            to, sender = WHATSAPP + to, WHATSAPP + sender
        request = {"to": to, "from": sender, "body": body[:500]}
        secrets = [token]
        try:
            client = Client(sid, token, http_client=twilio_http_client())
            message = client.messages.create(to=to, from_=sender, body=body)
        except TwilioRestException as exc:
            detail = redact_text(str(exc.msg or "error"), secrets)
            code = f" (error {exc.code})" if exc.code else ""
            raise StepFailed(
                f"Twilio refused the message: {detail}{code}",
                request=request,
                response={"status_code": exc.status, "code": exc.code, "message": detail},
            )
        except (TwilioException, OSError) as exc:  # requests' errors are OSErrors
            raise StepFailed(f"Twilio could not be reached ({exc.__class__.__name__})", request=request)
        response = {"sid": message.sid, "status": str(message.status) if message.status else None}
        return StepResult(output={"to": to, **response}, request=request, response=response)
