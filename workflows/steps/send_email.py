"""send_email: an email through Django's email backend; "owner" is the record's assignee."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from rest_framework import serializers

from actions.steps.base import (
    StepConfigError,
    StepConfigSerializer,
    StepFailed,
    StepResult,
    StepType,
    only_keys,
    register,
    require_str,
)
from workflows.steps._common import WORKFLOW, Trigger, has_placeholder, one_line

MAX_RECIPIENTS = 50


def clean_to(value) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise StepConfigError("to", 'needs at least one email address or "owner"')
    if len(value) > MAX_RECIPIENTS:
        raise StepConfigError("to", f"at most {MAX_RECIPIENTS} recipients")
    cleaned: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise StepConfigError("to", 'must be email addresses, "owner" or {{trigger.field}}')
        item = item.strip()
        if item.lower() == "owner":
            item = "owner"
        elif not has_placeholder(item):
            try:
                validate_email(item)
            except Exception:
                raise StepConfigError("to", f'"{item[:80]}" is not an email address')
        if item not in cleaned:
            cleaned.append(item)
    return cleaned


class SendEmailConfig(StepConfigSerializer):
    to = serializers.ListField(child=serializers.CharField(), help_text='Addresses, "owner" or {{trigger.email}}.')
    subject = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=50_000)


@register
class SendEmail(StepType):
    type = "send_email"
    label = "Send email"
    contexts = WORKFLOW
    description = 'Send an email; "to" takes addresses, "owner" or {{trigger.email}}.'
    Config = SendEmailConfig

    def summary(self, config):
        return f"Email {', '.join(config.get('to') or [])}: {config.get('subject', '')}"

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"to", "subject", "body"})
        return {
            "to": clean_to(config.get("to")),
            "subject": require_str(config, "subject", max_length=200),
            "body": require_str(config, "body", max_length=50_000),
        }

    def execute(self, ctx, config):
        trigger = Trigger(ctx)
        to: list[str] = []
        skipped: list[str] = []
        for item in config["to"]:
            if item == "owner":
                address = trigger.task.assignee.email if trigger.task.assignee_id else ""
                if not address:
                    skipped.append("owner (the record has no owner)")
                    continue
            else:
                address = trigger.text(item).strip()
                try:
                    validate_email(address)
                except Exception:
                    raise StepFailed(f'"{address[:80]}" is not an email address')
            if address.lower() not in {a.lower() for a in to}:
                to.append(address)
        if not to:
            return StepResult(output={"sent_to": [], "skipped": skipped or ["no recipient"]})
        # One line: a task value must not be able to add headers through the subject.
        subject = one_line(trigger.text(config["subject"]))[:998]
        body = trigger.text(config["body"])
        try:
            EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=to).send()
        except Exception as exc:
            raise StepFailed(f"the email could not be sent ({exc.__class__.__name__})")
        output = {"sent_to": to, "subject": subject}
        if skipped:
            output["skipped"] = skipped
        return StepResult(output=output)
