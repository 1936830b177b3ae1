"""Database triggers that replace a CacheVersion's value in the transaction of every write to some
tables, for the migrations that install them. Triggers, not signals: queryset updates, bulk writes,
raw SQL and the admin are covered too."""

VERSION_TABLE = "flows_cacheversion"


def version_triggers_create(schema_editor, version_id: int, tables: tuple[str, ...]) -> None:
    run = schema_editor.execute
    run(f"INSERT INTO {VERSION_TABLE} (id, value) VALUES ({int(version_id)}, 0)")
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        function = f"flows_version_{int(version_id)}_bump"
        run(
            f"CREATE FUNCTION {function}() RETURNS trigger AS $$ BEGIN "
            f"UPDATE {VERSION_TABLE} SET value = floor(random() * 9e18)::bigint WHERE id = {int(version_id)}; "
            "RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        for table in tables:
            run(
                f"CREATE TRIGGER {table}_version_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
    elif vendor == "sqlite":
        bump = f"UPDATE {VERSION_TABLE} SET value = random() WHERE id = {int(version_id)};"
        for table in tables:
            for op in ("INSERT", "UPDATE", "DELETE"):
                run(f"CREATE TRIGGER {table}_version_bump_{op.lower()} AFTER {op} ON {table} BEGIN {bump} END")
    else:
        raise RuntimeError(f"no version triggers for {vendor}")


def version_triggers_drop(schema_editor, version_id: int, tables: tuple[str, ...]) -> None:
    run = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        for table in tables:
            run(f"DROP TRIGGER IF EXISTS {table}_version_bump ON {table}")
        run(f"DROP FUNCTION IF EXISTS flows_version_{int(version_id)}_bump()")
    else:
        for table in tables:
            for op in ("insert", "update", "delete"):
                run(f"DROP TRIGGER IF EXISTS {table}_version_bump_{op}")
    run(f"DELETE FROM {VERSION_TABLE} WHERE id = {int(version_id)}")
