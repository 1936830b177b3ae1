"""The access version (flows.models.AccessVersion) and the triggers that replace it in the
transaction of every write to the tables that say who may use the API and which flows: a process
that caches a token's user or a person's flow under it sees any such write on its next request.
Triggers, not signals: queryset updates, bulk writes and the admin are covered too."""

from django.db import migrations, models

TABLES = (
    "authtoken_token",
    "flows_user",
    "flows_organization",
    "flows_organizationmembership",
    "flows_flow",
    "flows_flowmembership",
)
BUMP_SQLITE = "UPDATE flows_accessversion SET value = random() WHERE id = 1;"
BUMP_POSTGRES = "UPDATE flows_accessversion SET value = floor(random() * 9e18)::bigint WHERE id = 1;"


def create_triggers(apps, schema_editor):
    apps.get_model("flows", "AccessVersion").objects.create(pk=1, value=0)
    run = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        run(
            "CREATE FUNCTION flows_access_bump() RETURNS trigger AS $$ BEGIN "
            + BUMP_POSTGRES
            + " RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        for table in TABLES:
            run(
                f"CREATE TRIGGER {table}_access_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION flows_access_bump()"
            )
    elif schema_editor.connection.vendor == "sqlite":
        for table in TABLES:
            for op in ("INSERT", "UPDATE", "DELETE"):
                run(f"CREATE TRIGGER {table}_access_bump_{op.lower()} AFTER {op} ON {table} BEGIN {BUMP_SQLITE} END")
    else:
        raise RuntimeError(f"no access triggers for {schema_editor.connection.vendor}")


def drop_triggers(apps, schema_editor):
    run = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            run(f"DROP TRIGGER IF EXISTS {table}_access_bump ON {table}")
        run("DROP FUNCTION IF EXISTS flows_access_bump()")
    else:
        for table in TABLES:
            for op in ("insert", "update", "delete"):
                run(f"DROP TRIGGER IF EXISTS {table}_access_bump_{op}")


class Migration(migrations.Migration):
    dependencies = [
        ("flows", "0003_encrypt_credentials"),
        ("authtoken", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="AccessVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
