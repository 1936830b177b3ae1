"""Fault drills against a real deployment (gunicorn, qcluster, receiver), bigger than the CI versions
in tests/drills/ and, on PostgreSQL, with the real cluster stopped and started.

    .venv/bin/python -m bench.drills                 # SQLite + ORM broker, then PostgreSQL + Redis
    .venv/bin/python -m bench.drills --config sqlite --only kill,restart

Each drill runs a steady load of actions (API Call) and workflows (webhook, optionally after a wait)
and ends by counting every run as succeeded, failed with a reason, or missing (must be 0), and every
idempotency id the receiver saw more than once (a redelivery, allowed) or that names no step (never).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import threading
import time
from urllib.parse import urlsplit

from bench.run import configurations
from bench.stack import Http, Stack, pct, wait_for

FAST = {"RUN_LEASE_SECONDS": "5", "RUN_RERING_SECONDS": "2", "RUN_PENDING_GRACE_SECONDS": "2"}


class Drill:
    def __init__(self, stack: Stack):
        self.stack = stack
        self.data: dict = {}
        self.results: list[dict] = []

    def prepare(self) -> None:
        self.data = self.stack.deploy()

    def api(self) -> Http:
        return Http(self.stack.web_url, headers={"Authorization": f"Bearer {self.data['token']}"}, timeout=10)

    def last_run(self) -> int:
        return self.stack.app("runs-report", "0")["total"]

    def steady(self, count: int, interval: float, statuses: list | None = None) -> None:
        """Half actions, half workflow events, through the API like any client."""
        api = self.api()
        org, ops, leads = self.data["org"], self.data["ops"], self.data["leads"]
        for n in range(count):
            try:
                if n % 2:
                    status, _ = api.request(
                        "POST",
                        f"/api/flows/{org}/{ops['slug']}/executions",
                        body={"task_id": ops["tasks"][n % 8], "action_id": ops["hop"]},
                    )
                else:
                    status, _ = api.request(
                        "POST", f"/api/flows/{org}/{leads['slug']}/tasks", body={"Company Name": f"Drill {n}"}
                    )
            except OSError:
                status = 0
            if statuses is not None:
                statuses.append(status)
            time.sleep(interval)
        api.close()

    def account(self, name: str, since: int, accepted: int, timeout: float = 120) -> dict:
        def settled():
            report = self.stack.app("runs-report", str(since))
            done = report["by_status"].get("success", 0) + report["by_status"].get("fail", 0)
            return report["total"] >= accepted and done == report["total"]

        wait_for(settled, timeout, 1.0)
        report = self.stack.app("runs-report", str(since))
        succeeded = report["by_status"].get("success", 0)
        failed = report["by_status"].get("fail", 0)
        keys: dict[str, int] = {}
        for _, _, key, _ in self.stack.receiver_log(0):
            keys[key] = keys.get(key, 0) + 1
        result = {
            "drill": name,
            "config": self.stack.label,
            "accepted": accepted,
            "succeeded": succeeded,
            "failed_with_reason": sum(1 for _, errors in report["failed"] if errors),
            "failed_without_reason": sum(1 for _, errors in report["failed"] if not errors),
            "missing": accepted - succeeded - failed,
            "redelivered_same_id": sum(1 for n in keys.values() if n > 1),
            "ok": accepted - succeeded - failed == 0,
        }
        self.results.append(result)
        print(
            f"  {name:<22} {json.dumps({k: v for k, v in result.items() if k not in ('drill', 'config')})}", flush=True
        )
        return result

    # -- the drills

    def kill(self, count: int = 300) -> None:
        since = self.last_run()
        statuses: list = []
        feeder = threading.Thread(target=self.steady, args=(count, 0.01, statuses))
        feeder.start()
        time.sleep(2)
        self.stack.kill_worker()  # kill -9 the whole cluster mid-load
        self.stack.start_worker()
        feeder.join()
        self.account("kill -9 worker", since, sum(1 for s in statuses if s == 201))

    def restart(self, count: int = 100) -> None:
        since = self.last_run()
        # Runs that wait 3 s, then a webhook: restart the cluster while they all wait.
        self.stack.app("fill-board", str(self.data["board"]["id"]), str(count))
        started = self.stack.app("wait-start", str(self.data["board"]["id"]), str(count), "3")
        time.sleep(1.5)
        self.stack.kill_worker(sig=15)
        time.sleep(1)
        self.stack.start_worker()
        self.account("restart while waiting", since, len(started["runs"]))

    def database_outage(self, count: int = 300, seconds: float = 10) -> None:
        parts = urlsplit(self.stack.database_url)
        version = _pg_version()
        if not self.stack.is_postgres or parts.hostname not in ("127.0.0.1", "localhost") or version is None:
            print("  database outage         skipped (needs the local PostgreSQL cluster and pg_ctlcluster)")
            return
        since = self.last_run()
        statuses: list = []
        feeder = threading.Thread(target=self.steady, args=(count, 0.05, statuses))
        feeder.start()
        time.sleep(3)
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "stop", "-m", "fast"], check=True
        )
        time.sleep(seconds)
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True)
        feeder.join()
        codes = {s: statuses.count(s) for s in set(statuses)}
        print(f"  web answers during the outage: {codes} (503 expected, never 500)")
        result = self.account("PostgreSQL stop/start", since, sum(1 for s in statuses if s == 201))
        result["web_statuses"] = codes
        result["ok"] = result["ok"] and 500 not in codes

    def bad_receivers(self, count: int = 60) -> None:
        """Healthy webhook p99 with and without a hanging, slow, 10 MB and resetting receiver."""
        base = self._healthy_p99(count)
        stop = threading.Event()
        bad = threading.Thread(target=self._bad_load, args=(stop,))
        bad.start()
        try:
            degraded = self._healthy_p99(count)
        finally:
            stop.set()
            bad.join()
        result = {
            "drill": "bad receivers",
            "config": self.stack.label,
            "healthy_p99_ms": base * 1000,
            "degraded_p99_ms": degraded * 1000,
            "ratio": degraded / base if base else None,
            "ok": degraded < 2 * base,
        }
        self.results.append(result)
        print(f"  {'bad receivers':<22} healthy p99 {base * 1000:.1f} ms -> {degraded * 1000:.1f} ms", flush=True)

    def _healthy_p99(self, count: int) -> float:
        api = self.api()
        org, leads = self.data["org"], self.data["leads"]
        start = self.stack.receiver_count()
        answered = {}
        for n in range(count):
            status, body = api.request(
                "POST", f"/api/flows/{org}/{leads['slug']}/tasks", body={"Company Name": f"H {n}"}
            )
            answered[json.loads(body)["id"]] = time.time()
            time.sleep(0.05)
        api.close()
        wait_for(lambda: sum(1 for e in self.stack.receiver_log(start) if e[1] == "/ok/burst") >= count, 60, 0.2)
        delays = [e[0] - answered[e[3]] for e in self.stack.receiver_log(start) if e[3] in answered]
        return pct(delays, 99)

    def _bad_load(self, stop: threading.Event) -> None:
        org, ops = self.data["org"], self.data["ops"]
        api = self.api()
        # Bad receivers sit behind API Call actions on their own tasks.
        actions = []
        for kind in ("hang", "slow", "big", "reset"):
            status, body = api.request(
                "POST",
                f"/api/flows/{org}/{ops['slug']}/actions",
                body={
                    "name": f"Bad {kind}",
                    "steps": [{"type": "api_call", "config": {"url": f"{self.stack.receiver_url}/{kind}/x"}}],
                },
            )
            if status == 201:
                actions.append(json.loads(body)["id"])
        n = 0
        while not stop.is_set():
            for action in actions:
                api.request(
                    "POST",
                    f"/api/flows/{org}/{ops['slug']}/executions",
                    body={"task_id": ops["tasks"][n % 8], "action_id": action},
                )
                n += 1
            stop.wait(1.5)
        api.close()


def _pg_version() -> str | None:
    if not shutil.which("pg_ctlcluster"):
        return None
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.split()
    return out[0] if out else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--only", default="kill,restart,outage,bad")
    args = parser.parse_args()
    only = set(args.only.split(","))
    results = []
    for database_url, redis_url in configurations(args.config):
        stack = Stack(
            database_url=database_url,
            redis_url=redis_url,
            q_workers=4,
            extra_env={**FAST, "OUTBOUND_TOTAL_TIMEOUT": "5"},
        )
        print(f"\n== drills on {stack.label} (logs in {stack.log_dir})", flush=True)
        drill = Drill(stack)
        try:
            drill.prepare()
            if "kill" in only:
                drill.kill()
            if "restart" in only:
                drill.restart()
            if "outage" in only:
                drill.database_outage()
            if "bad" in only:
                drill.bad_receivers()
        finally:
            stack.stop()
        results.extend(drill.results)
    failed = [r for r in results if not r.get("ok")]
    print(f"\n{len(results) - len(failed)}/{len(results)} drills passed")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
