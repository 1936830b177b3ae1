"""update_data is now the update_field type, email_notification the send_email type (the
decisions are written in workflows/steps/update_field.py and send_email.py). Saved steps are
rewritten under the type's own name and config shape; runs in flight keep their program, which the
engine still runs under the alias. Version snapshots and drafts are left as they were: restoring or
saving them goes through validation, which takes the aliases."""

from django.db import migrations

RENAMED = {"update_data": "update_field", "email_notification": "send_email"}
ROLES = {"assignee": "owner"}


def converted(type_name: str, config: dict) -> tuple[str, dict]:
    """A step as today's code stores it, from a step stored before the merge (else unchanged)."""
    config = config if isinstance(config, dict) else {}
    if type_name == "update_data":
        return "update_field", {"fields": dict(config.get("values") or {})}
    if type_name == "email_notification":
        recipients = config.get("recipients") or []
        return "send_email", {
            "to": [ROLES.get(item, item) for item in recipients],
            "subject": config.get("subject", ""),
            "body": config.get("body", ""),
        }
    return type_name, config


def reverted(type_name: str, config: dict) -> tuple[str, dict]:
    if type_name == "update_field":
        values = config.get("fields") or ({config["field"]: config.get("value")} if "field" in config else {})
        return "update_data", {"values": dict(values)}
    if type_name == "send_email":
        to = [{"owner": "assignee"}.get(item, item) for item in config.get("to") or []]
        return "email_notification", {"recipients": to, "subject": config.get("subject", ""), "body": config.get("body", "")}
    return type_name, config


def merge_types(apps, schema_editor):
    Step = apps.get_model("actions", "Step")
    for step in Step.objects.filter(type__in=list(RENAMED)).iterator():
        step.type, step.config = converted(step.type, step.config)
        step.save(update_fields=["type", "config"])


def split_types(apps, schema_editor):
    # Before the merge, actions could only hold update_data and email_notification.
    Step = apps.get_model("actions", "Step")
    for step in Step.objects.filter(type__in=list(RENAMED.values())).iterator():
        step.type, step.config = reverted(step.type, step.config)
        step.save(update_fields=["type", "config"])


class Migration(migrations.Migration):
    dependencies = [
        ("actions", "0003_flowversion_builderdraft"),
    ]

    operations = [migrations.RunPython(merge_types, split_types)]
