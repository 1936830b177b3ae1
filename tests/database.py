"""The whole database as text, for tests that prove a secret is not stored in clear anywhere."""

from django.db import connection


def database_text() -> str:
    """Every row of every table (SELECT * FROM <table>), rendered as text."""
    lines = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                lines.append(f"{table}: " + " | ".join(_text(value) for value in row))
    return "\n".join(lines)


def _text(value) -> str:
    if isinstance(value, memoryview | bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)
