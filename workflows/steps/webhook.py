"""webhook: call an external URL with the record, signed (Standard Webhooks) and with an idempotency
key that stays the same on every retry. Timeouts, connection errors, 408, 429 and 5xx are retried
with exponential backoff and full jitter (Retry-After honoured) up to `maxAttempts`."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from actions.steps import http
from actions.steps.base import (
    StepConfigError,
    StepFailed,
    StepForm,
    StepResult,
    StepRetry,
    StepType,
    only_keys,
    register,
)
from flowsite.outbound import validate_header
from workflows.steps._common import WORKFLOW, Trigger, check_references

DEFAULT_ATTEMPTS = 5
MAX_ATTEMPTS = 10
MAX_BACKOFF_SECONDS = 300.0  # 5 minutes
MAX_RETRY_AFTER_SECONDS = 3600.0  # a receiver asking for more than an hour gets an hour
BODY_MAX_BYTES = 100_000


def clean_body(value):
    if value is None:
        return None
    if not isinstance(value, dict | list):
        raise StepConfigError("body", "must be a JSON object (or list)")
    if len(json.dumps(value)) > BODY_MAX_BYTES:
        raise StepConfigError("body", f"must be at most {BODY_MAX_BYTES} bytes as JSON")
    return value


def clean_attempts(config: dict) -> int:
    value = config.get("maxAttempts", DEFAULT_ATTEMPTS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ATTEMPTS:
        raise StepConfigError("maxAttempts", f"must be a whole number from 1 to {MAX_ATTEMPTS}")
    return value


def backoff_seconds(attempt: int) -> float:
    """Full jitter: a random delay up to base * 2^(attempt-1), capped, so retries from many runs spread."""
    base = float(getattr(settings, "WEBHOOK_RETRY_BASE_SECONDS", 1.0))
    return random.uniform(0, min(MAX_BACKOFF_SECONDS, base * 2 ** (attempt - 1)))


def retry_after_seconds(headers: dict) -> float | None:
    value = (headers or {}).get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = (parsedate_to_datetime(value) - timezone.now()).total_seconds()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(0.0, min(seconds, MAX_RETRY_AFTER_SECONDS))


def dot_segments(url: str) -> bool:
    """Whether the URL's path has "." or ".." segments, counting percent-encoded dots: requests turns
    %2E back into "." before sending, so a value of ".." would otherwise climb the receiver's path."""
    path = urlsplit(url).path
    return any(segment.replace("%2E", ".").replace("%2e", ".") in (".", "..") for segment in path.split("/"))


def event_type(ctx) -> str:
    event = (ctx.trigger or {}).get("event")
    if isinstance(event, dict):
        for key in ("type", "triggerType", "trigger_type", "name"):
            if isinstance(event.get(key), str) and event[key]:
                return event[key]
    if isinstance(event, str) and event:
        return event
    workflow = ctx.run.workflow if ctx.run.workflow_id else None
    return workflow.trigger_type if workflow is not None else ""


def workflow_payload(ctx) -> dict:
    # The run carries the workflow's name as it was when the run started.
    return {"id": str(ctx.run.workflow_id) if ctx.run.workflow_id else None, "name": ctx.run.name}


class WebhookConfig(http.CallConfig):
    url = serializers.CharField(max_length=2000, help_text="An http(s) URL; may hold {{trigger.field}}.")
    body = serializers.JSONField(
        required=False, help_text="The JSON to send ({{trigger.x}} inserted); by default the event and the record."
    )
    maxAttempts = serializers.IntegerField(min_value=1, max_value=MAX_ATTEMPTS, default=DEFAULT_ATTEMPTS)


@register
class Webhook(StepType):
    type = "webhook"
    label = "Webhook"
    contexts = WORKFLOW
    description = "Call an external URL with the record (signed, retried on timeouts, 429 and 5xx)."
    Config = WebhookConfig
    tryable = True
    form = StepForm(
        "steps/webhook.html",
        headers=("headers",),
        json=("body",),
        numbers=("maxAttempts",),
        defaults={"url": "", "method": "POST", "body": "", "maxAttempts": ""},
    )

    def summary(self, config):
        return http.call_summary(config)

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"url", "method", "headers", "body", "maxAttempts"})
        url = http.clean_url(config, placeholders=True)
        old = old or {}
        cleaned = {
            "url": url,
            "method": http.clean_method(config),
            "headers": http.clean_headers(config.get("headers"), old.get("headers"), url=url, old_url=old.get("url")),
            "maxAttempts": clean_attempts(config),
        }
        body = clean_body(config.get("body"))
        if body is not None:
            cleaned["body"] = body
        check_references(cleaned["url"], flow, "url")
        check_references(body, flow, "body")
        check_references([h["value"] for h in cleaned["headers"] if not h["secret"]], flow, "headers")
        return cleaned

    def public_config(self, config):
        return {**config, "headers": http.public_headers(config.get("headers", []))}

    def secret_values(self, config):
        return http.secret_values(config.get("headers", []))

    def request(self, config: dict, *, trigger: Trigger, event: str, workflow: dict) -> dict:
        """What this step sends for the record: method, URL, headers (placeholders filled in) and
        the JSON payload. The run and "Send test request" in the editor both send this."""
        url = trigger.url(config["url"])
        if dot_segments(url) and not dot_segments(config["url"]):
            raise StepFailed('a value inserted into the URL makes a "." or ".." path segment')
        headers = []
        for header in config.get("headers") or []:
            # Secret values are stored encrypted and used as typed; the others may hold placeholders.
            if not header.get("secret"):
                value = trigger.text(header["value"])
                try:
                    validate_header(header["name"], value)
                except ValueError as exc:
                    raise StepFailed(f'header "{header["name"]}" is invalid after substitution ({exc})')
                header = {**header, "value": value}
            headers.append(header)
        if config.get("body") is not None:
            payload = trigger.data(config["body"])
        else:
            payload = {"event": event, "workflow": workflow, "task": trigger.json}
        return {"method": config.get("method", "POST"), "url": url, "headers": headers, "payload": payload}

    def trial_request(self, config: dict, *, task, task_json: dict, user, name: str, event: str, workflow_id) -> dict:
        trigger = Trigger(None, task=task, task_json=task_json)
        workflow = {"id": str(workflow_id) if workflow_id else None, "name": name}
        return self.request(config, trigger=trigger, event=event, workflow=workflow)

    def execute(self, ctx, config):
        trigger = Trigger(ctx)
        max_attempts = int(config.get("maxAttempts") or DEFAULT_ATTEMPTS)
        out = self.request(config, trigger=trigger, event=event_type(ctx), workflow=workflow_payload(ctx))
        try:
            response, request_record, secrets = http.signed_send(
                **out, idempotency_key=ctx.idempotency_key, signing_secret=ctx.flow.signing_secret
            )
        except StepFailed as exc:
            if not exc.retryable:
                raise
            self._retry(ctx, max_attempts, exc.message, backoff_seconds(ctx.attempt), request=exc.request)

        record = http.response_record(response, secrets)
        status = response.status_code
        if response.ok:
            return StepResult(
                output={"status_code": status, "attempts": ctx.attempt}, request=request_record, response=record
            )
        detail = http.excerpt(" ".join(response.text().split()), secrets)
        reason = f"the receiver answered {status}" + (f": {detail}" if detail else "")
        if status in (408, 429) or status >= 500:
            delay = retry_after_seconds(response.headers)
            if delay is None:
                delay = backoff_seconds(ctx.attempt)
            self._retry(ctx, max_attempts, reason, delay, request=request_record, response=record)
        if 300 <= status < 400:
            reason += " (redirects are not followed; use the final URL)"
        raise StepFailed(reason, request=request_record, response=record)

    @staticmethod
    def _retry(ctx, max_attempts: int, reason: str, delay: float, *, request=None, response=None):
        if ctx.attempt >= max_attempts:
            raise StepFailed(
                f"gave up after {ctx.attempt} attempt{'s' if ctx.attempt != 1 else ''}; the last one failed: {reason}",
                request=request,
                response=response,
            )
        wake_at = timezone.now() + timedelta(seconds=delay)
        raise StepRetry(
            f"attempt {ctx.attempt} of {max_attempts} failed: {reason}; retrying in {delay:.1f}s",
            wake_at=wake_at,
            request=request,
            response=response,
        )
