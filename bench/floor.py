"""The floor: the same work as Flowsite's with no framework, measured in the same run on the same
machine. Every benchmark figure is printed beside its floor as a ratio.

- a raw INSERT + COMMIT (psycopg on PostgreSQL, sqlite3 with the app's pragmas on SQLite);
- a raw keep-alive HTTP POST to the same loopback receiver;
- a raw SELECT of the first page of tasks (the board's floor);
- time.sleep lateness (the wait's floor).

Run alone: python -m bench.floor [DATABASE_URL]
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

from bench.stack import ROOT, Http, pct

PAYLOAD = {"Company Name": "Floor Co", "Source": "bench", "Amount": "1000", "Note": "x" * 200}


def _connect(database_url: str):
    if database_url.startswith("postgres"):
        import psycopg

        return psycopg.connect(database_url), "%s"
    path = database_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn, "?"


def ensure_table(database_url: str) -> None:
    conn, _ = _connect(database_url)
    try:
        if database_url.startswith("postgres"):
            conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, payload text)")
            conn.commit()
        else:
            conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT)")
    finally:
        conn.close()


def db_insert_commit(database_url: str, n: int = 500) -> dict:
    """Sequential INSERT + COMMIT, one row each: latency percentiles and rate."""
    ensure_table(database_url)
    conn, mark = _connect(database_url)
    body = json.dumps(PAYLOAD)
    times = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            if isinstance(conn, sqlite3.Connection):
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(f"INSERT INTO bench_floor (payload) VALUES ({mark})", (body,))
                conn.execute("COMMIT")
            else:
                conn.execute(f"INSERT INTO bench_floor (payload) VALUES ({mark})", (body,))
                conn.commit()
            times.append(time.perf_counter() - t0)
    finally:
        conn.close()
    return _summary(times)


def http_post(base: str, path: str = "/ok/floor", n: int = 500) -> dict:
    """Sequential keep-alive POSTs of a task-sized JSON body to the receiver."""
    client = Http(base)
    body = json.dumps({"event": "floor", "task": PAYLOAD}).encode()
    times = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            status, _ = client.request("POST", path, body=body)
            times.append(time.perf_counter() - t0)
            assert status == 200, status
    finally:
        client.close()
    return _summary(times)


def first_page_select(database_url: str, flow_id: int, n: int = 50) -> dict:
    """The first page of a flow's tasks with a raw SELECT (what the task list needs at least)."""
    conn, mark = _connect(database_url)
    sql = f"SELECT id, data, stage_id, assignee_id FROM tasks_task WHERE flow_id = {mark} ORDER BY id DESC LIMIT 100"
    times = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            rows = conn.execute(sql, (flow_id,)).fetchall()
            times.append(time.perf_counter() - t0)
            assert rows
        if not isinstance(conn, sqlite3.Connection):
            conn.rollback()
    finally:
        conn.close()
    return _summary(times)


def sleep_lateness(n: int = 20, seconds: float = 0.05) -> dict:
    late = []
    for _ in range(n):
        t0 = time.monotonic()
        time.sleep(seconds)
        late.append(time.monotonic() - t0 - seconds)
    return _summary(late)


def _summary(times: list[float]) -> dict:
    total = sum(times)
    return {
        "n": len(times),
        "p50_ms": pct(times, 50) * 1000,
        "p99_ms": pct(times, 99) * 1000,
        "per_s": len(times) / total if total else 0.0,
    }


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{ROOT / 'var' / 'bench-floor.sqlite3'}"
    if not url.startswith("postgres"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(exist_ok=True)
    print(json.dumps({"insert_commit": db_insert_commit(url)}, indent=2))
