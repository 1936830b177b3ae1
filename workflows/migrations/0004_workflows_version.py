"""The workflows version (flows.models.CacheVersion.WORKFLOWS) and the triggers that replace it in
the transaction of every write to workflows and their actions: the dispatcher caches a flow's
active workflows per process under it."""

from django.db import migrations

from flows.triggers import version_triggers_create, version_triggers_drop

WORKFLOWS = 2
TABLES = ("workflows_workflow", "workflows_workflowaction")


def create(apps, schema_editor):
    version_triggers_create(schema_editor, WORKFLOWS, TABLES)


def drop(apps, schema_editor):
    version_triggers_drop(schema_editor, WORKFLOWS, TABLES)


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0003_merge_near_pair_step_types"),
        ("flows", "0004_cache_version"),
    ]

    operations = [migrations.RunPython(create, drop)]
