"""Cache versions (flows.models.CacheVersion) and the triggers that replace the access version in
the transaction of every write to the tables that say who may use the API and which flows: a
process that caches a token's user or a person's flow under it sees any such write on its next
request."""

from django.db import migrations, models

from flows.triggers import version_triggers_create, version_triggers_drop

ACCESS = 1
TABLES = (
    "authtoken_token",
    "flows_user",
    "flows_organization",
    "flows_organizationmembership",
    "flows_flow",
    "flows_flowmembership",
)


def create(apps, schema_editor):
    version_triggers_create(schema_editor, ACCESS, TABLES)


def drop(apps, schema_editor):
    version_triggers_drop(schema_editor, ACCESS, TABLES)


class Migration(migrations.Migration):
    dependencies = [
        ("flows", "0003_encrypt_credentials"),
        ("authtoken", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="CacheVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create, drop),
    ]
