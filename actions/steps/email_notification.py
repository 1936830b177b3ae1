"""Email notification: a message whose subject and body may include task data."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
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
from flowsite.interpolation import interpolate
from tasks.services import task_to_json

# People named by role rather than address, resolved when the step runs.
ROLES = ("assignee", "performer")


def render(template: str, task_json: dict) -> str:
    """`{{task.Field Name}}` (or `{{trigger.field_name}}`) inserts the task's value; nothing else
    is evaluated."""
    return interpolate(template, task_json)


def clean_recipients(value) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise StepConfigError("recipients", "needs at least one email address, assignee or performer")
    if len(value) > 50:
        raise StepConfigError("recipients", "at most 50 recipients")
    cleaned = []
    for item in value:
        if not isinstance(item, str):
            raise StepConfigError("recipients", "must be email addresses, assignee or performer")
        item = item.strip()
        if item.lower() in ROLES:
            cleaned.append(item.lower())
            continue
        try:
            validate_email(item)
        except Exception:
            raise StepConfigError("recipients", f'"{item}" is not an email address')
        cleaned.append(item)
    return cleaned


def resolve_recipients(recipients: list[str], *, task, user) -> list[str]:
    out: list[str] = []
    for item in recipients:
        if item == "assignee":
            address = task.assignee.email if task is not None and task.assignee_id else None
        elif item == "performer":
            address = user.email if user is not None else None
        else:
            address = item
        if address and address not in out:
            out.append(address)
    return out


class EmailNotificationConfig(StepConfigSerializer):
    recipients = serializers.ListField(
        child=serializers.CharField(), help_text='Email addresses, "assignee" or "performer" (or one comma list).'
    )
    subject = serializers.CharField(max_length=200, help_text="May include {{task.Field Name}}.")
    body = serializers.CharField(max_length=20000, help_text="May include {{task.Field Name}}.")


@register
class EmailNotification(StepType):
    type = "email_notification"
    label = "Email notification"
    contexts = ("action",)
    description = "Email people; subject and body may include task data as {{task.Field Name}}."
    Config = EmailNotificationConfig
    form_template = "actions/builder_steps/email_notification.html"

    def summary(self, config):
        return f"Email {', '.join(config.get('recipients') or [])}: {config.get('subject', '')}"

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"recipients", "subject", "body"})
        return {
            "recipients": clean_recipients(config.get("recipients")),
            "subject": require_str(config, "subject", max_length=200),
            "body": require_str(config, "body", max_length=20000),
        }

    def execute(self, ctx, config):
        task_json = task_to_json(task=ctx.task) if ctx.task is not None else {}
        to = resolve_recipients(config["recipients"], task=ctx.task, user=ctx.user)
        if not to:
            return StepResult(output={"sent_to": [], "skipped": "no recipient had an address"})
        subject = render(config["subject"], task_json).replace("\n", " ").replace("\r", " ")
        try:
            send_mail(subject, render(config["body"], task_json), settings.DEFAULT_FROM_EMAIL, to)
        except Exception as exc:
            raise StepFailed(f"the email could not be sent ({exc.__class__.__name__})")
        return StepResult(output={"sent_to": to, "subject": subject})
