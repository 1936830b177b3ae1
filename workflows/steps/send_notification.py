"""send_notification: an in-app notification to listed people and/or the record's owner."""

from __future__ import annotations

from rest_framework import serializers

from actions.steps.base import (
    StepConfigError,
    StepConfigSerializer,
    StepForm,
    StepResult,
    StepType,
    only_keys,
    register,
    require_str,
)
from tasks.models import Notification
from tasks.services import task_path
from workflows.steps._common import WORKFLOW, Trigger, clean_people, flow_people, one_line, organization_of

MESSAGE_MAX = 2000
TITLE_MAX = 200


class SendNotificationConfig(StepConfigSerializer):
    userIds = serializers.ListField(child=serializers.CharField(), required=False, help_text="User ids or emails.")
    toOwner = serializers.BooleanField(required=False, default=False)
    message = serializers.CharField(max_length=MESSAGE_MAX)
    title = serializers.CharField(max_length=TITLE_MAX, required=False)


@register
class SendNotification(StepType):
    type = "send_notification"
    label = "Send notification"
    contexts = WORKFLOW
    description = "Notify people in Flowsite; the owner is the record's assignee."
    Config = SendNotificationConfig
    form = StepForm(
        "steps/send_notification.html",
        people=True,
        defaults={"userIds": [], "toOwner": True, "title": "", "message": ""},
    )

    def summary(self, config):
        people = [str(p) for p in config.get("userIds") or []] + (["owner"] if config.get("toOwner") else [])
        return f"Notify {', '.join(people)}: {config.get('title') or config.get('message', '')}"

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"userIds", "toOwner", "message", "title"})
        to_owner = config.get("toOwner", False)
        if not isinstance(to_owner, bool):
            raise StepConfigError("toOwner", "must be true or false")
        people = clean_people(
            config.get("userIds"),
            "userIds",
            organization=organization_of(flow=flow, organization=organization),
            required=False,
        )
        if not people and not to_owner:
            raise StepConfigError("userIds", "name at least one person, or set toOwner")
        cleaned = {
            "userIds": people,
            "toOwner": to_owner,
            "message": require_str(config, "message", max_length=MESSAGE_MAX),
        }
        title = require_str(config, "title", max_length=TITLE_MAX, required=False)
        if title:
            cleaned["title"] = title
        return cleaned

    def execute(self, ctx, config):
        trigger = Trigger(ctx)
        task = trigger.task
        # Only people who can see the record are told about it.
        users = flow_people(list(config.get("userIds") or []), task.flow)
        if config.get("toOwner") and task.assignee_id and task.assignee.pk not in {u.pk for u in users}:
            users.append(task.assignee)
        message = trigger.text(config["message"])[:MESSAGE_MAX]
        if config.get("title"):
            message = f"{one_line(trigger.text(config['title']))[:TITLE_MAX]}: {message}"
        url = task_path(task=task)
        output = {"notified": [u.email for u in users]}
        if not users:
            output["skipped"] = "no recipient: nobody listed is a member of the flow and the record has no owner"

        def apply() -> None:
            Notification.objects.bulk_create(
                [
                    Notification(user=user, flow=task.flow, task=task, kind="workflow", message=message, url=url)
                    for user in users
                ]
            )

        return StepResult(output={**output, "message": message}, apply=apply)
