"""send_email: an email through Django's email backend; "owner" is the record's assignee.

Near-pair decision: Flowdash's "email_notification" (an action step: recipients, subject, body with
{{task.Field}}) and the CRM seed's "send_email" (a workflow action: to, subject, body with
{{trigger.field}}) sent the same email. They are one type with options: "send_email", usable in
actions and workflows, "email_notification" kept as its alias. Its "recipients" read as "to", its
role "assignee" as "owner" (the same person), and "performer" (whoever performed the action; nobody
in a workflow) is a recipient of this type now. Stored rows were rewritten by actions migration 0004
and workflows migration 0003; programs stored in runs keep running under the alias."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from rest_framework import serializers

from actions.steps.base import (
    StepConfigError,
    StepConfigSerializer,
    StepFailed,
    StepForm,
    StepResult,
    StepType,
    only_keys,
    register,
    require_str,
)
from workflows.steps._common import Trigger, has_placeholder, one_line

MAX_RECIPIENTS = 50


# People named by role, resolved when the step runs; "assignee" is the alias type's word for "owner".
ROLES = {"owner": "owner", "assignee": "owner", "performer": "performer"}


def clean_to(value, key: str = "to") -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise StepConfigError(key, 'needs at least one email address, "owner" or "performer"')
    if len(value) > MAX_RECIPIENTS:
        raise StepConfigError(key, f"at most {MAX_RECIPIENTS} recipients")
    cleaned: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise StepConfigError(key, 'must be email addresses, "owner", "performer" or {{trigger.field}}')
        item = item.strip()
        if item.lower() in ROLES:
            item = ROLES[item.lower()]
        elif not has_placeholder(item):
            try:
                validate_email(item)
            except Exception:
                raise StepConfigError(key, f'"{item[:80]}" is not an email address')
        if item not in cleaned:
            cleaned.append(item)
    return cleaned


class SendEmailConfig(StepConfigSerializer):
    to = serializers.ListField(
        child=serializers.CharField(),
        help_text='Addresses, "owner", "performer" or {{trigger.email}} ("recipients" for the alias).',
    )
    subject = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=50_000)


@register
class SendEmail(StepType):
    type = "send_email"
    aliases = ("email_notification",)
    label = "Send email"
    description = 'Send an email; "to" takes addresses, "owner" or {{trigger.email}}.'
    Config = SendEmailConfig
    form = StepForm("steps/send_email.html", text=("to",), defaults={"to": "", "subject": "", "body": ""})

    def form_state(self, config):
        # A stored alias config says "recipients"; the form edits it as "to".
        return {
            "to": config.get("to", config.get("recipients")),
            "subject": config.get("subject"),
            "body": config.get("body"),
        }

    def summary(self, config):
        return f"Email {', '.join(config.get('to') or [])}: {config.get('subject', '')}"

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"to", "recipients", "subject", "body"})
        key = "recipients" if "recipients" in config and "to" not in config else "to"
        return {
            "to": clean_to(config.get(key), key),
            "subject": require_str(config, "subject", max_length=200),
            "body": require_str(config, "body", max_length=50_000),
        }

    def execute(self, ctx, config):
        trigger = Trigger(ctx)
        to: list[str] = []
        skipped: list[str] = []
        for item in config.get("to", config.get("recipients")):
            role = ROLES.get(item)
            if role == "owner":
                address = trigger.task.assignee.email if trigger.task.assignee_id else ""
                if not address:
                    skipped.append("owner (the record has no owner)")
                    continue
            elif role == "performer":
                address = ctx.user.email if ctx.user is not None else ""
                if not address:
                    skipped.append("performer (nobody performed it)")
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
