"""Workflow actions (and the actions nested in branches) of the types update_data and
email_notification are rewritten as update_field and send_email, with the conversion of
actions migration 0004."""

import importlib

from django.db import migrations

ALIASES = ("update_data", "email_notification")


def _converted(type_name, config):
    rule = importlib.import_module("actions.migrations.0004_merge_near_pair_step_types")
    type_name, config = rule.converted(type_name, config)
    if type_name == "branch":
        config = dict(config)
        for label in ("then", "else"):
            items = []
            for item in config.get(label) or []:
                if isinstance(item, dict):
                    key = "actionType" if "actionType" in item else "type"
                    name, sub = _converted(item.get(key) or "", item.get("config") or {})
                    item = {**item, key: name, "config": sub}
                items.append(item)
            if label in config:
                config[label] = items
    return type_name, config


def merge_types(apps, schema_editor):
    WorkflowAction = apps.get_model("workflows", "WorkflowAction")
    for action in WorkflowAction.objects.filter(action_type__in=(*ALIASES, "branch")).iterator():
        new_type, new_config = _converted(action.action_type, action.config)
        if (new_type, new_config) != (action.action_type, action.config):
            action.action_type, action.config = new_type, new_config
            action.save(update_fields=["action_type", "config"])


class Migration(migrations.Migration):
    dependencies = [
        ("actions", "0004_merge_near_pair_step_types"),
        ("workflows", "0002_roundrobincursor_overduemark"),
    ]

    # Going back leaves them as they are: workflows took update_field and send_email before too.
    operations = [migrations.RunPython(merge_types, migrations.RunPython.noop)]
