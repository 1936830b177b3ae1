import os
import subprocess
import sys

import pytest
from django.conf import settings


def _import_settings(env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import flowsite.settings as s; print(s.DATABASES['default']['ENGINE'])"],
        env=clean,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
    )


def test_refuses_to_start_without_secret_key_when_debug_is_off():
    result = _import_settings({"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_debug_runs_without_secret_key():
    assert _import_settings({"DEBUG": "1"}).returncode == 0


def test_database_url_selects_postgresql():
    result = _import_settings({"SECRET_KEY": "x", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test"})
    assert result.stdout.strip() == "django.db.backends.postgresql"


def test_redis_url_selects_the_redis_broker():
    code = "import flowsite.settings as s; print('redis' in s.Q_CLUSTER, 'orm' in s.Q_CLUSTER)"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({"SECRET_KEY": "x", "REDIS_URL": "redis://127.0.0.1:6379/0"})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=settings.BASE_DIR)
    assert out.stdout.split() == ["True", "False"]


def test_sqlite_is_configured_for_concurrent_writers():
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("SQLite settings only apply on SQLite")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert db["OPTIONS"]["timeout"] >= 20


@pytest.mark.django_db
@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="a PostgreSQL session setting"
)
def test_postgresql_ends_sessions_left_idle_in_a_transaction():
    """A worker cut off mid-transaction must not hold its task's row lock for hours."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW idle_in_transaction_session_timeout")
        assert cursor.fetchone()[0] == "1min"


@pytest.mark.django_db
@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="a PostgreSQL session setting"
)
def test_postgresql_prepares_statements_a_connection_repeats():
    """The engine's statements repeat for every run: PostgreSQL plans each once per connection."""
    from django.db import connection

    from tasks.selectors import task_with_relations

    for _ in range(6):
        task_with_relations(task_id=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any('FROM "tasks_task" t' in statement for statement in prepared), prepared
