"""add_tag: add one tag or several to the trigger task (tags already there stay)."""

from __future__ import annotations

import re

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
)
from tasks.services import task_add_tags
from tasks.values import TaskValidationError
from workflows.steps._common import WORKFLOW, Trigger, reasons

TAG_MAX = 50  # as tasks.services
TAGS_MAX = 50
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_tag(value, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StepConfigError(key, "must be a non-empty string")
    value = value.strip()
    if CONTROL.search(value):
        raise StepConfigError(key, "must be one line")
    # A placeholder may be longer than the tag it becomes; the length is checked again when it runs.
    if len(value) > TAG_MAX and "{{" not in value:
        raise StepConfigError(key, f"must be at most {TAG_MAX} characters")
    return value


class AddTagConfig(StepConfigSerializer):
    tag = serializers.CharField(required=False, help_text='One tag (give "tag" or "tags").')
    tags = serializers.ListField(child=serializers.CharField(), required=False)


@register
class AddTag(StepType):
    type = "add_tag"
    label = "Add tag"
    contexts = WORKFLOW
    description = "Add tags to the record."
    Config = AddTagConfig
    form = StepForm("steps/add_tag.html", text=("tags",))

    def form_state(self, config):
        return {"tags": config.get("tags") if "tags" in config else config.get("tag")}

    def form_payload(self, config, context):
        return {"tags": [tag.strip() for tag in str(config.get("tags", "")).split(",") if tag.strip()]}

    def summary(self, config):
        tags = config.get("tags") or [config.get("tag", "")]
        return "Tag " + ", ".join(map(str, tags))

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"tag", "tags"})
        if ("tag" in config) == ("tags" in config):
            raise StepConfigError("tag", 'give either "tag" or "tags"')
        if "tag" in config:
            return {"tag": clean_tag(config["tag"], "tag")}
        tags = config["tags"]
        if not isinstance(tags, list) or not tags:
            raise StepConfigError("tags", "must be a non-empty list of tags")
        if len(tags) > TAGS_MAX:
            raise StepConfigError("tags", f"at most {TAGS_MAX} tags")
        return {"tags": [clean_tag(tag, "tags") for tag in tags]}

    def execute(self, ctx, config):
        trigger = Trigger(ctx)
        templates = [config["tag"]] if "tag" in config else list(config.get("tags") or [])
        # A placeholder for an empty field adds nothing rather than failing the run.
        tags = [tag for tag in (" ".join(trigger.text(t).split()) for t in templates) if tag]

        def apply() -> None:
            if not tags:
                return
            try:
                ctx.task_after = task_add_tags(
                    task=trigger.task, actor=None, tags=tags, source=ctx.source, depth=ctx.depth
                )
            except TaskValidationError as exc:
                raise StepFailed(f"the tags were refused ({reasons(exc.errors)})")

        return StepResult(output={"tags": tags}, apply=apply)
