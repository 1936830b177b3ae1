"""Flowsite benchmarks: stand the app up for real and print every figure beside its floor.

    make bench                                   # SQLite + ORM broker, then PostgreSQL + Redis if reachable
    .venv/bin/python -m bench.run --config sqlite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/flowsite_bench REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m bench.run
    .venv/bin/python -m bench.run --only hop,chain --burst 10000

Writes bench/results/<timestamp>.json. See bench/README.md for what each row measures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import threading
import time
from datetime import datetime

from bench import floor
from bench.stack import ROOT, Http, Stack, pct, wait_for

RESULTS = ROOT / "bench" / "results"
ROWS = ("hop", "chain", "burst", "ingest", "relay", "board", "wait", "memory")
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/flowsite_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


# ---------------------------------------------------------------- load generation


def _client(job: tuple) -> list[tuple]:
    """One client process: sequential requests on one kept-alive connection. Closed loop (the next
    request as soon as the last is answered) unless `interval` > 0: then request i is sent at
    `start + i * interval` (epoch seconds), or at once if the client is behind its schedule.
    Returns (sent, answered, status, task id) per request, times from time.time()."""
    base, headers, path, bodies, interval, start = job
    client = Http(base, headers=headers)
    out = []
    for i, body in enumerate(bodies):
        if interval:
            delay = start + i * interval - time.time()
            if delay > 0:
                time.sleep(delay)
        sent = time.time()
        try:
            status, data = client.request("POST", path, body=body)
        except OSError:
            status, data = 0, b""
        answered = time.time()
        task_id = None
        if status in (200, 201):
            try:
                task_id = json.loads(data).get("id")
            except ValueError:
                pass
        out.append((sent, answered, status, task_id))
    client.close()
    return out


def load(base: str, headers: dict, path: str, bodies: list, clients: int, rate: float = 0) -> tuple[list[tuple], float]:
    """Spread `bodies` over `clients` processes (not threads: the GIL would skew the latencies).
    With a `rate` (requests/s in all) the clients are paced, an open loop: each sends every
    clients / rate seconds, the clients' schedules staggered evenly."""
    interval = clients / rate if rate else 0.0
    start = time.time() + 0.5  # after the pool's processes are up
    jobs = [(base, headers, path, bodies[i::clients], interval, start + i * interval / clients) for i in range(clients)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(clients) as pool:
        started = time.time()
        results = pool.map(_client, jobs)
        elapsed = time.time() - started
    return [row for part in results for row in part], elapsed


# ---------------------------------------------------------------- the workloads


class Bench:
    def __init__(self, stack: Stack, args):
        self.stack = stack
        self.args = args
        self.rows: list[dict] = []
        self.floors: dict = {}
        self.data: dict = {}

    def api(self) -> Http:
        return Http(self.stack.web_url, headers={"Authorization": f"Bearer {self.data['token']}"})

    def row(self, name, what, figure, unit, floor_value, target, met, **extra):
        ratio = figure / floor_value if floor_value and figure == figure else float("nan")
        self.rows.append(
            {
                "config": self.stack.label,
                "name": name,
                "what": what,
                "figure": round(figure, 3) if isinstance(figure, float) else figure,
                "unit": unit,
                "floor": round(floor_value, 3) if isinstance(floor_value, float) else floor_value,
                "ratio": round(ratio, 2) if ratio == ratio else None,
                "target": target,
                "met": met,
                **extra,
            }
        )
        print(
            f"  {name:<14} {what:<34} {figure:>10.2f} {unit:<8} floor {floor_value:>9.2f}"
            f"  x{ratio:>7.2f}  {target:<22} {'ok' if met else ('--' if met is None else 'MISSED')}",
            flush=True,
        )

    # -- setup

    def prepare(self) -> None:
        s = self.stack
        self.data = s.deploy()
        db = floor.db_insert_commit(s.database_url, 500)
        post = floor.http_post(s.receiver_url, "/ok/floor", 500)
        self.floors = {"insert_commit": db, "http_post": post}
        print(
            f"  floor: INSERT+COMMIT p50 {db['p50_ms']:.2f} ms p99 {db['p99_ms']:.2f} ms ({db['per_s']:.0f}/s); "
            f"keep-alive POST p50 {post['p50_ms']:.2f} ms p99 {post['p99_ms']:.2f} ms ({post['per_s']:.0f}/s)",
            flush=True,
        )

    def _hop_floor(self, p: int) -> float:
        return self.floors["insert_commit"][f"p{p}_ms"] + self.floors["http_post"][f"p{p}_ms"]

    def _wait_deliveries(self, start: int, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stack.receiver_wait(start + count, min(30.0, deadline - time.monotonic())) >= start + count:
                return True
        return self.stack.receiver_count() >= start + count

    # -- rows

    def hop(self, n: int) -> None:
        api = self.api()
        ops = self.data["ops"]
        path = f"/api/flows/{self.data['org']}/{ops['slug']}/executions"
        latencies, from_request = [], []
        for i in range(n):
            before = self.stack.receiver_count()
            sent = time.time()
            status, body = api.request(
                "POST", path, body={"task_id": ops["tasks"][i % len(ops["tasks"])], "action_id": ops["hop"]}
            )
            accepted = time.time()
            assert status == 201, (status, body)
            if self.stack.receiver_wait(before + 1, 10) <= before:
                raise SystemExit("hop: the receiver never got the API Call")
            received = self.stack.receiver_log(before)[0][0]
            latencies.append(received - accepted)
            from_request.append(received - sent)
            time.sleep(0.005)  # let the run record its end: each execution starts on an idle system
        api.close()
        p50, p99 = pct(latencies, 50) * 1000, pct(latencies, 99) * 1000
        extra = {"p50_from_request_ms": pct(from_request, 50) * 1000, "n": n}
        self.row(
            "hop latency", "accepted -> receiver, p50", p50, "ms", self._hop_floor(50), "<= 5 ms", p50 <= 5, **extra
        )
        self.row(
            "hop latency", "accepted -> receiver, p99", p99, "ms", self._hop_floor(99), "<= 20 ms", p99 <= 20, **extra
        )

    def chain(self, n: int) -> None:
        api = self.api()
        ops = self.data["ops"]
        path = f"/api/flows/{self.data['org']}/{ops['slug']}/executions"
        per_step = []
        for i in range(n):
            before = self.stack.receiver_count()
            status, body = api.request("POST", path, body={"task_id": ops["tasks"][i % 8], "action_id": ops["chain"]})
            accepted = time.time()
            assert status == 201, (status, body)
            if not self._wait_deliveries(before, 20, 60):
                raise SystemExit("chain: the run did not reach its last step")
            log = self.stack.receiver_log(before)
            last = max(entry[0] for entry in log if entry[1].endswith("/chain/39"))
            per_step.append((last - accepted) / 40)
            time.sleep(0.1)
        api.close()
        value = pct(per_step, 50) * 1000
        floor_step = (self._hop_floor(50) + self.floors["insert_commit"]["p50_ms"]) / 2  # half the steps call out
        self.row("chain", "time per step (40 steps), p50", value, "ms", floor_step, "<= 3 ms/step", value <= 3, n=n)

    def burst(self, n: int, clients: int = 8, label: str = "burst") -> dict:
        leads = self.data["leads"]
        path = f"/api/flows/{self.data['org']}/{leads['slug']}/tasks"
        bodies = [{"Company Name": f"Burst {i}", "Source": "bench"} for i in range(n)]
        start = self.stack.receiver_count()
        peak = {"worker_kb": 0, "web_kb": 0}
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                m = self.stack.memory()
                peak["worker_kb"] = max(peak["worker_kb"], m["worker_kb"])
                peak["web_kb"] = max(peak["web_kb"], m["web_kb"])
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        results, ingest_s = load(
            self.stack.web_url, {"Authorization": f"Bearer {self.data['token']}"}, path, bodies, clients
        )
        ok = [r for r in results if r[2] == 201]
        drained = self._wait_deliveries(start, len(ok), self.args.drain_timeout)
        sampling.set()
        sampler.join()
        log = self.stack.receiver_log(start)
        sent_at = {r[3]: r for r in ok}
        delays, first_delivery = [], {}
        for received, _target, _key, task_id in log:
            if task_id in sent_at and task_id not in first_delivery:
                first_delivery[task_id] = received
                delays.append(received - sent_at[task_id][1])
        first_sent = min(r[0] for r in ok)
        last = max(first_delivery.values()) if first_delivery else time.time()
        rate = len(first_delivery) / (last - first_sent)
        duplicates = len(log) - len(first_delivery)
        return {
            "n": n,
            "accepted": len(ok),
            "delivered": len(first_delivery),
            "duplicate_deliveries": duplicates,
            "drained": drained,
            "ingest_s": ingest_s,
            "drain_rate": rate,
            "p99_ms": pct(delays, 99) * 1000,
            "p50_ms": pct(delays, 50) * 1000,
            "peak": peak,
        }

    def drain(self, n: int) -> dict:
        """N task events recorded in one commit (as an import or a bulk change records them), each
        firing the leads workflow's one webhook step. Three moments per event: the commit, its
        dispatch (a worker matched it and created its run, in one transaction: `dispatched_at`), and
        its delivery at the receiver."""
        leads = self.data["leads"]
        start = self.stack.receiver_count()
        cpu_before = self.stack.worker_cpu()
        made = self.stack.app("events", str(leads["id"]), str(n))
        drained = self._wait_deliveries(start, n, self.args.drain_timeout)
        worker_cpu = self.stack.worker_cpu() - cpu_before
        first, last_event = made["events"]
        report = self.stack.app("events-report", str(first), str(last_event), leads["workflow"])
        tasks = set(made["tasks"])
        first_delivery = {}
        log = self.stack.receiver_log(start)
        for received, _target, _key, task_id in log:
            if task_id in tasks and task_id not in first_delivery:
                first_delivery[task_id] = received
        committed = made["committed"]
        dispatch_delays = [at - committed for at in report["dispatched"]]
        delays = [received - committed for received in first_delivery.values()]
        last = max(first_delivery.values()) if first_delivery else time.time()
        dispatched_all = max(report["dispatched"]) - committed if report["dispatched"] else float("nan")
        return {
            "n": n,
            "delivered": len(first_delivery),
            "duplicate_deliveries": len(log) - len(first_delivery),
            "drained": drained,
            "ring_ms": (made["rung"] - committed) * 1000,
            "dispatched": len(report["dispatched"]),
            "pending_events": report["pending"],
            "dispatch_errors": report["dispatch_errors"],
            "runs": report["runs"],
            "tasks_with_runs": report["tasks_with_runs"],
            "dispatch_s": dispatched_all,
            "dispatch_rate": len(report["dispatched"]) / dispatched_all if dispatched_all > 0 else float("nan"),
            "dispatch_p50_ms": pct(dispatch_delays, 50) * 1000,
            "dispatch_p99_ms": pct(dispatch_delays, 99) * 1000,
            "drain_rate": len(first_delivery) / (last - committed),
            "worker_cpu_s": worker_cpu,
            "worker_cpu_ms_per_delivery": worker_cpu * 1000 / len(first_delivery) if first_delivery else float("nan"),
            "p99_ms": pct(delays, 99) * 1000,
            "p50_ms": pct(delays, 50) * 1000,
        }

    def burst_row(self, n: int) -> None:
        result = self.drain(n)
        # Dispatch: commit -> every event matched and its run created. Its floor is one row per event
        # inserted and committed on its own, as a rate: the dispatcher batches, so it can beat it.
        what = f"commit -> runs created ({result['runs']}/{n})"
        runs_ok = result["runs"] == n and result["tasks_with_runs"] == n and not result["dispatch_errors"]
        self.row(
            "burst",
            what,
            result["dispatch_rate"],
            "/s",
            self.floors["insert_commit"]["per_s"],
            "report; 1 run per event",
            None if runs_ok else False,
            **result,
        )
        floor_rate = 1000 / self._hop_floor(50)
        postgres_redis = self.stack.is_postgres and self.stack.redis_url
        target = ">= 1000/s (PG+Redis)" if postgres_redis else "report (SQLite)"
        met = result["drain_rate"] >= 1000 if postgres_redis else None
        what = f"commit -> delivered, {result['delivered']}/{n} /s"
        self.row("burst", what, result["drain_rate"], "/s", floor_rate, target, met, **result)
        print(
            f"  {'':<14} cpu: {result['worker_cpu_ms_per_delivery']:.2f} ms of worker CPU a delivery"
            f" ({result['worker_cpu_s']:.2f} s for {result['delivered']})",
            flush=True,
        )
        p99 = result["p99_ms"]
        self.row("burst", "commit -> delivery, p99", p99, "ms", self._hop_floor(99), "report", None, **result)

    def memory_row(self, n: int) -> None:
        first = self.burst(n)
        second = self.burst(n, label="burst 2")
        for kind in ("worker_kb", "web_kb"):
            a, b = first["peak"][kind] / 1024, second["peak"][kind] / 1024
            flat = b <= a * 1.10 + 5
            self.row(
                "memory",
                f"peak RSS {kind[:-3]} (MB), 2nd burst",
                b,
                "MB",
                a,
                "flat across 2 bursts",
                flat,
                first_mb=a,
                second_mb=b,
            )

    def ingest(self, n: int, clients: int = 8) -> None:
        projects = self.data["projects"]
        path = f"/api/flows/{self.data['org']}/{projects['slug']}/tasks"
        bodies = [{"Company Name": f"Ingest {i}", "Source": "bench", "Amount": str(i)} for i in range(n)]
        headers = {"Authorization": f"Bearer {self.data['token']}"}
        load(self.stack.web_url, headers, path, bodies[:200], clients)  # warm every web worker
        web_before = self.stack.web_cpu()
        results, elapsed = load(self.stack.web_url, headers, path, bodies, clients)
        web_cpu = self.stack.web_cpu() - web_before
        ok = [r for r in results if r[2] == 201]
        rate = len(ok) / elapsed
        p99 = pct([r[1] - r[0] for r in ok], 99) * 1000
        site = self.site_floor(bodies, clients)
        floor_rate, floor_p99 = site["per_s"], site["p99_ms"]
        extra = {"n": n, "errors": len(results) - len(ok), "floor_view_per_s": floor_rate}
        self.row(
            "task ingest",
            f"{clients} clients, requests/s",
            rate,
            "/s",
            floor_rate,
            ">=1000/s, >=0.5x floor",
            rate >= 1000 and rate >= 0.5 * floor_rate,
            **extra,
        )
        self.row("task ingest", f"{clients} clients, p99", p99, "ms", floor_p99, "<= 20 ms", p99 <= 20, **extra)
        self.web_cpu_row("task ingest", web_cpu, len(results), site)

    def web_cpu_row(self, name: str, web_cpu: float, posts: int, site: dict) -> None:
        """gunicorn's CPU (its processes' utime + stime from /proc over the measured POSTs) a POST,
        beside the plain view's: less load-sensitive than a rate on a shared machine."""
        self.row(name, "web CPU a POST", web_cpu * 1000 / posts, "ms", site["web_cpu_ms"], "report", None)

    def site_floor(self, bodies: list, clients: int) -> dict:
        """The floor of the Task API rows: a plain Django view that parses JSON and inserts a row,
        same gunicorn settings, same clients. Measured once per configuration (ingest and relay share it)."""
        if "site" in self.floors:
            return self.floors["site"]
        floor.ensure_table(self.stack.database_url)
        floor_stack = Stack(
            database_url=self.stack.database_url,
            web_workers=self.stack.web_workers,
            web_threads=self.stack.web_threads,
            log_dir=self.stack.log_dir,
        )
        floor_stack.start_web("bench.floor_site:application", env={"DJANGO_SETTINGS_MODULE": "bench.floor_site"})
        try:
            load(floor_stack.web_url, {}, "/ingest", bodies[:200], clients)
            web_before = floor_stack.web_cpu()
            floor_results, floor_elapsed = load(floor_stack.web_url, {}, "/ingest", bodies, clients)
            web_cpu = floor_stack.web_cpu() - web_before
        finally:
            floor_stack.stop()
        floor_ok = [r for r in floor_results if r[2] == 201]
        self.floors["site"] = {
            "per_s": len(floor_ok) / floor_elapsed,
            "p99_ms": pct([r[1] - r[0] for r in floor_ok], 99) * 1000,
            "web_cpu_ms": web_cpu * 1000 / len(floor_results),
            "n": len(bodies),
        }
        return self.floors["site"]

    def relay(self, n: int, clients: int = 8) -> None:
        """Tasks POSTed through the Task API at `clients` processes on the relay flow, whose
        task_created workflow has one webhook step: accepted/s, accepted -> delivery, and every
        accepted task delivered exactly once (by the idempotency id the receiver logged). Then the
        same at paced rates below the closed loop's (`relay_paced`)."""
        relay = self.data["relay"]
        path = f"/api/flows/{self.data['org']}/{relay['slug']}/tasks"
        headers = {"Authorization": f"Bearer {self.data['token']}"}
        warm = [{"Company Name": f"Warm {i}", "Source": "bench"} for i in range(min(200, n))]
        start = self.stack.receiver_count()
        warmed, _ = load(self.stack.web_url, headers, path, warm, clients)  # warm every web worker
        # The warm-up's deliveries out of the way, so the measured tasks start on an empty queue.
        self._wait_deliveries(start, sum(1 for r in warmed if r[2] == 201), self.args.drain_timeout)
        bodies = [{"Company Name": f"Relay {i}", "Source": "bench"} for i in range(n)]
        m = self._relay_send(path, headers, bodies, clients)
        ok, first, accepted = m["ok"], m["first"], m["accepted"]
        rate = len(ok) / m["elapsed"]
        site = self.site_floor([{**body, "Amount": "0"} for body in bodies], clients)
        extra = {**m["extra"], "floor_view_per_s": site["per_s"]}
        self.row(
            "relay",
            f"{clients} clients, accepted/s",
            rate,
            "/s",
            site["per_s"],
            ">= 0.6x floor",
            rate >= 0.6 * site["per_s"],
            **extra,
        )
        p50, p99 = extra["p50_ms"], extra["p99_ms"]
        self.row("relay", "accepted -> delivery, p50", p50, "ms", self._hop_floor(50), "report", None, **extra)
        self.row("relay", "accepted -> delivery, p99", p99, "ms", self._hop_floor(99), "<= 100 ms", p99 <= 100, **extra)
        worker_cpu = m["worker_cpu"]
        cpu_ms = worker_cpu * 1000 / len(ok) if ok else float("nan")
        what = "worker CPU a relayed task"
        self.row("relay", what, cpu_ms, "ms", float("nan"), "report", None, worker_cpu_s=worker_cpu)
        self.web_cpu_row("relay", m["web_cpu"], len(m["results"]), site)
        dup = extra["redelivered_same_id"] + extra["tasks_with_two_ids"]
        what = f"delivered once: {len(first)}/{len(ok)}, dup {dup}"
        self.row("relay", what, len(first), "tasks", len(ok), "all, no duplicate ids", m["once"], **extra)
        self.relay_stages(sorted(first), first, accepted)
        for share in self.args.relay_paced:
            self.relay_paced(path, headers, share, rate, clients)

    def relay_paced(self, path: str, headers: dict, share: float, closed_rate: float, clients: int) -> None:
        """The relay as an open loop: tasks offered at `share` of the rate the closed loop reached,
        for about 8 s. Under the closed loop the cores are full and accepted -> delivery is mostly
        the queue in front of the workers; below it, it is what one task's path costs."""
        target = share * closed_rate
        bodies = [{"Company Name": f"Paced {share} {i}", "Source": "bench"} for i in range(max(200, int(target * 8)))]
        m = self._relay_send(path, headers, bodies, clients, rate=target)
        sent = [r[0] for r in m["results"]]
        offered = (len(sent) - 1) / (max(sent) - min(sent)) if len(sent) > 1 else float("nan")
        extra = {**m["extra"], "share": share, "offered_per_s": offered}
        label = f"paced {share:.0%} ({offered:.0f}/s)"
        self.row("relay paced", f"{label}, p50", extra["p50_ms"], "ms", self._hop_floor(50), "report", None, **extra)
        self.row("relay paced", f"{label}, p99", extra["p99_ms"], "ms", self._hop_floor(99), "report", None, **extra)
        if not m["once"]:
            what = f"{label}: not delivered once"
            self.row("relay paced", what, len(m["first"]), "tasks", len(m["ok"]), "all", False, **extra)

    def _relay_send(self, path: str, headers: dict, bodies: list, clients: int, rate: float = 0) -> dict:
        """POST `bodies` to the relay flow (closed loop, or paced at `rate`), wait for every accepted
        task's delivery, and check each was delivered exactly once by the receiver's log."""
        start = self.stack.receiver_count()
        cpu_before, web_before = self.stack.worker_cpu(), self.stack.web_cpu()
        results, elapsed = load(self.stack.web_url, headers, path, bodies, clients, rate=rate)
        web_cpu = self.stack.web_cpu() - web_before
        ok = [r for r in results if r[2] == 201]
        accepted = {r[3]: r[1] for r in ok}
        drained = self._wait_deliveries(start, len(ok), self.args.drain_timeout)
        worker_cpu = self.stack.worker_cpu() - cpu_before
        time.sleep(1.0)  # a redelivery comes after the first delivery: give it the chance to show
        keys: dict[str, int] = {}
        by_task: dict[int, set] = {}
        first: dict[int, float] = {}
        for received, target, key, task_id in self.stack.receiver_log(start):
            if task_id not in accepted or not target.startswith("/ok/relay"):
                continue
            keys[key] = keys.get(key, 0) + 1
            by_task.setdefault(task_id, set()).add(key)
            first[task_id] = min(received, first.get(task_id, received))
        delays = [first[task] - accepted[task] for task in first]
        missing = len(accepted) - len(first)
        redelivered = sum(count - 1 for count in keys.values() if count > 1)  # one id delivered again
        double_runs = sum(1 for ids in by_task.values() if len(ids) > 1)  # one event, two runs
        no_key = sum(1 for key in keys if not key)
        extra = {
            "n": len(bodies),
            "accepted": len(ok),
            "errors": len(results) - len(ok),
            "delivered": len(first),
            "missing": missing,
            "redelivered_same_id": redelivered,
            "tasks_with_two_ids": double_runs,
            "deliveries_without_id": no_key,
            "drained": drained,
            "p50_ms": pct(delays, 50) * 1000,
            "p99_ms": pct(delays, 99) * 1000,
        }
        once = missing == 0 and redelivered == 0 and double_runs == 0 and no_key == 0 and len(ok) > 0
        return {
            "results": results,
            "elapsed": elapsed,
            "ok": ok,
            "accepted": accepted,
            "first": first,
            "web_cpu": web_cpu,
            "worker_cpu": worker_cpu,
            "extra": extra,
            "once": once,
        }

    def relay_stages(self, task_ids: list[int], delivered: dict[int, float], accepted: dict[int, float]) -> None:
        """Where a relayed task's time goes, read from the database after the run: its event's
        commit (created_at) -> dispatched (dispatched_at: its run created) -> the run claimed
        (started_at) -> the receiver's arrival. p50 / p99 of each stage, in ms."""
        ids_file = self.stack.log_dir / "relay-tasks.json"
        ids_file.write_text(json.dumps(task_ids))
        times = self.stack.app("relay-stages", self.data["relay"]["workflow"], str(ids_file))
        stages: dict[str, list[float]] = {
            "commit -> dispatched": [],
            "dispatched -> claimed": [],
            "claimed -> delivered": [],
        }
        # Every task's moments (epoch seconds), for histograms: bench/relay_hist.py reads this file.
        moments = {}
        for task in task_ids:
            at = times.get(str(task), {})
            event, dispatched, claimed = at.get("event"), at.get("dispatched"), at.get("claimed")
            if not (event and dispatched and claimed):
                continue
            moments[task] = [accepted[task], event, dispatched, claimed, delivered[task]]
            stages["commit -> dispatched"].append(dispatched - event)
            stages["dispatched -> claimed"].append(claimed - dispatched)
            stages["claimed -> delivered"].append(delivered[task] - claimed)
        (self.stack.log_dir / "relay-moments.json").write_text(json.dumps(moments))
        for what, values in stages.items():
            p50, p99 = pct(values, 50) * 1000, pct(values, 99) * 1000
            self.row("relay stage", f"{what}, p50", p50, "ms", float("nan"), "report", None, n=len(values))
            self.row("relay stage", f"{what}, p99", p99, "ms", float("nan"), "report", None, n=len(values))

    def board(self, sizes: list[int]) -> None:
        board = self.data["board"]
        org = self.data["org"]
        session = Http(self.stack.web_url, headers={"Cookie": f"sessionid={self.data['session']}"})
        api = self.api()
        counts = {}
        for size in sizes:
            self.stack.app("fill-board", str(board["id"]), str(size))
            counts[size] = self.stack.app("board-queries", org, board["slug"])
            raw = floor.first_page_select(self.stack.database_url, board["id"])
            for name, client, path in [
                ("board page", session, f"/flows/{org}/{board['slug']}"),
                ("GET tasks", api, f"/api/flows/{org}/{board['slug']}/tasks"),
            ]:
                times = []
                for i in range(25):
                    t0 = time.perf_counter()
                    status, _ = client.request("GET", path)
                    if i >= 5:  # the first few warm caches
                        times.append(time.perf_counter() - t0)
                    assert status == 200, (name, status)
                p50 = pct(times, 50) * 1000
                key = "board" if name == "board page" else "tasks_api"
                queries = counts[size][key]["queries"]
                flat = counts[size][key]["queries"] == counts[sizes[0]][key]["queries"]
                met = (p50 <= 150 and flat) if size == max(sizes) else None
                self.row(
                    "board",
                    f"{name} @ {size:,} tasks ({queries} queries)",
                    p50,
                    "ms",
                    raw["p50_ms"],
                    "<=150 ms @100k, flat queries",
                    met,
                    p99_ms=pct(times, 99) * 1000,
                    queries=queries,
                    tasks=size,
                )
        session.close()
        api.close()

    def wait(self, n: int, seconds: float = 1.0) -> None:
        board = self.data["board"]
        self.stack.app("fill-board", str(board["id"]), str(n))
        started = self.stack.app("wait-start", str(board["id"]), str(n), str(seconds))
        ids_file = self.stack.log_dir / "wait-runs.json"
        ids_file.write_text(json.dumps(started["runs"]))
        report = {}

        def done():
            report.update(self.stack.app("wait-report", str(ids_file)))
            return report["statuses"].get("success", 0) >= n

        wait_for(done, seconds + 60, 1.0)
        late = report["lateness"]
        p99 = pct(late, 99)
        sleep_floor = floor.sleep_lateness()
        self.row(
            "wait accuracy",
            f"{len(late)}/{n} waits of {seconds:g}s, p99 late",
            p99,
            "s",
            sleep_floor["p99_ms"] / 1000,
            "p99 <= 0.5 s",
            p99 <= 0.5 and len(late) == n,
            p50_s=pct(late, 50),
            statuses=report["statuses"],
        )


# ---------------------------------------------------------------- main


def run_config(args, database_url: str | None, redis_url: str | None) -> list[dict]:
    stack = Stack(
        database_url=database_url,
        redis_url=redis_url,
        q_workers=args.q_workers,
        web_workers=args.web_workers,
        web_threads=args.web_threads,
    )
    print(f"\n== {stack.label} (logs in {stack.log_dir})", flush=True)
    bench = Bench(stack, args)
    only = set(args.only.split(",")) if args.only else set(ROWS)
    try:
        bench.prepare()
        if "hop" in only:
            bench.hop(args.hop)
        if "chain" in only:
            bench.chain(args.chain)
        if "burst" in only:
            bench.burst_row(args.burst)
        if "memory" in only:
            bench.memory_row(args.burst)
        if "ingest" in only:
            bench.ingest(args.ingest)
        if "relay" in only:
            bench.relay(args.relay)
        if "wait" in only:
            bench.wait(args.waits)
        if "board" in only:
            bench.board(args.board)
    finally:
        stack.stop()
    return bench.rows + [{"config": stack.label, "name": "floor", **bench.floors}]


def print_table(rows: list[dict]) -> None:
    print()
    header = f"{'config':<24} {'row':<14} {'what':<44} {'figure':>12} {'floor':>10} {'ratio':>8}  {'target':<26} met"
    print(header)
    print("-" * len(header))
    for r in rows:
        if r["name"] == "floor":
            continue
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        ratio = f"x{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        print(
            f"{r['config']:<24} {r['name']:<14} {r['what']:<44} {r['figure']:>9.2f} {r['unit']:<3}"
            f"{r['floor']:>9.2f} {ratio:>8}  {r['target']:<26} {met}"
        )


def configurations(choice: str) -> list[tuple[str | None, str | None]]:
    """(DATABASE_URL, REDIS_URL) pairs to stand up; None is SQLite / the ORM broker."""
    configs = []
    if choice == "env":
        # DATABASE_URL / REDIS_URL pick the configuration, as in production.
        configs.append((os.environ.get("DATABASE_URL") or None, os.environ.get("REDIS_URL") or None))
    if choice in ("sqlite", "both"):
        configs.append((None, None))
    if choice in ("postgres", "both"):
        configs.append(
            (os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG), os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
        )
    return configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=["env", "sqlite", "postgres", "both"], default="env")
    parser.add_argument("--only", default="", help=f"comma-separated rows: {','.join(ROWS)}")
    parser.add_argument("--hop", type=int, default=500)
    parser.add_argument("--chain", type=int, default=5)
    parser.add_argument("--burst", type=int, default=int(os.environ.get("BENCH_BURST", "3000")))
    parser.add_argument("--ingest", type=int, default=4000)
    parser.add_argument("--relay", type=int, default=2000)
    parser.add_argument(
        "--relay-paced",
        type=lambda s: [float(x) for x in s.split(",") if x],
        default=[0.25, 0.5, 0.75],
        help="shares of the closed loop's accepted/s to offer the relay at, paced ('' for none)",
    )
    parser.add_argument("--waits", type=int, default=1000)
    parser.add_argument("--board", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000])
    parser.add_argument("--drain-timeout", type=float, default=180)
    parser.add_argument("--q-workers", type=int, default=int(os.environ.get("BENCH_Q_WORKERS", "2")))
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("BENCH_WEB_WORKERS", "3")))
    parser.add_argument("--web-threads", type=int, default=int(os.environ.get("BENCH_WEB_THREADS", "2")))
    args = parser.parse_args()

    rows = []
    for database_url, redis_url in configurations(args.config):
        rows.extend(run_config(args, database_url, redis_url))
    print_table(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    meta = {"cpus": os.cpu_count(), "args": vars(args), "when": datetime.now().isoformat()}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str))
    print(f"\nwritten {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
