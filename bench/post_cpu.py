"""The web's CPU a Task API POST in-process, beside the floor's plain view: POSTs handed straight to
Django's WSGI handler (every middleware, no gunicorn, no socket), one at a time in this process, with
`time.process_time` and the statements of each.

    BENCH_DATABASE_URL=postgres://.../flowsite_bench_x BENCH_REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python -m bench.post_cpu --n 1000 --rounds 3

The database (named flowsite_bench*) is dropped and recreated, and set up as `make bench` sets it up;
the POSTs go to the relay row's flow (a `task_created` workflow listens, so each write rings). No
worker runs: the events stay in the outbox. Statements leave out Django's per-request health check
(psycopg's own `SELECT 1`), which the floor pays too. To profile one side: `py-spy record -o out.txt
--format raw -- .venv/bin/python -m bench.post_cpu --child relay SETUP_JSON N`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time

from bench import floor
from bench.run import DEFAULT_PG, DEFAULT_REDIS
from bench.stack import PYTHON, ROOT, Stack


def _environ(path: str, body: bytes, authorization: str | None) -> dict:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_CONNECTION": "keep-alive",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if authorization:
        environ["HTTP_AUTHORIZATION"] = authorization
    return environ


def child(side: str, setup: dict, n: int, warm: int) -> dict:
    """POSTs in this process; `side` is "relay" (Flowsite) or "floor" (bench.floor_site)."""
    if side == "floor":
        from bench.floor_site import application

        path, authorization, expected = "/ingest", None, "201 Created"
    else:
        from flowsite.wsgi import application

        path = f"/api/flows/{setup['org']}/{setup['relay']['slug']}/tasks"
        authorization, expected = f"Bearer {setup['token']}", "201 Created"
    from django.db import connection

    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    got: list[str] = []

    def start_response(status, headers, exc_info=None):
        got.append(status)

    cpu, per_post = [], []
    with connection.execute_wrapper(count):
        for i in range(warm + n):
            body = json.dumps({"Company Name": f"In-process {i}", "Source": "bench"}).encode()
            environ = _environ(path, body, authorization)
            got.clear()
            before_statements = statements[0]
            started = time.process_time()
            chunks = application(environ, start_response)
            b"".join(chunks)
            if hasattr(chunks, "close"):
                chunks.close()
            spent = time.process_time() - started
            if got[0] != expected:
                raise SystemExit(f"{side}: POST answered {got[0]}")
            if i >= warm:
                cpu.append(spent)
                per_post.append(statements[0] - before_statements)
    return {
        "side": side,
        "n": n,
        "cpu_ms_mean": statistics.fmean(cpu) * 1000,
        "cpu_ms_median": statistics.median(cpu) * 1000,
        "statements": statistics.fmean(per_post),
    }


def _run_child(stack: Stack, side: str, setup_file: str, n: int, warm: int) -> dict:
    env = dict(stack.env)
    if side == "floor":
        env["DJANGO_SETTINGS_MODULE"] = "bench.floor_site"
    result = subprocess.run(
        [PYTHON, "-m", "bench.post_cpu", "--child", side, setup_file, str(n), "--warm", str(warm)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise SystemExit(f"{side} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "SETUP_JSON", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, setup_file, n = args.child
        if side != "floor":
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flowsite.settings")
        import django

        django.setup()
        with open(setup_file) as f:
            setup = json.load(f)
        print(json.dumps(child(side, setup, int(n), args.warm)))
        return

    stack = Stack(
        database_url=os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG),
        redis_url=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
    )
    stack.reset_database()
    # No worker and no receiver: the webhook's target is never called.
    setup = stack.app("setup", "http://127.0.0.1:9")
    floor.ensure_table(stack.database_url)
    setup_file = stack.log_dir / "setup.json"
    setup_file.write_text(json.dumps(setup))
    print(f"setup in {setup_file}", flush=True)
    for round_ in range(args.rounds):
        for side in ("relay", "floor"):
            r = _run_child(stack, side, str(setup_file), args.n, args.warm)
            print(
                f"round {round_ + 1} {side:<6} CPU a POST mean {r['cpu_ms_mean']:.3f} ms,"
                f" median {r['cpu_ms_median']:.3f} ms, {r['statements']:.2f} statements",
                flush=True,
            )


if __name__ == "__main__":
    main()
