"""Stand Flowsite up for real on loopback: the database, gunicorn, the django-q2 cluster and the
receiver, each its own process, plus the small helpers the workloads share (HTTP on a kept-alive
connection, percentiles, resident memory)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BENCH_DB = "flowsite_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used, with its children that have ended and been waited
    for (a live child counts on its own), from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime: fields 14-17 of stat(5), 12-15 after the command's ")".
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """All descendants of a process (gunicorn workers, django-q2 workers)."""
    out = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(x) for x in f.read().split()]
    except OSError:
        return out
    for kid in kids:
        out.append(kid)
        out.extend(children(kid))
    return out


def wait_for(predicate, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class Http:
    """One kept-alive HTTP/1.1 connection (reconnects once if the server closed it)."""

    def __init__(self, base: str, headers: dict | None = None, timeout: float = 30):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.headers = headers or {}
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, method: str, path: str, body=None, headers: dict | None = None) -> tuple[int, bytes]:
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
        all_headers = {**self.headers, **(headers or {})}
        if body is not None:
            all_headers.setdefault("Content-Type", "application/json")
        for attempt in (1, 2):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, path, body=body, headers=all_headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return response.status, data
            except (http.client.HTTPException, ConnectionError, OSError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Stack:
    """The processes of one Flowsite deployment on this machine."""

    def __init__(
        self,
        *,
        database_url: str | None = None,
        redis_url: str | None = None,
        q_workers: int = 2,
        web_workers: int = 2,
        web_threads: int = 4,
        extra_env: dict | None = None,
        log_dir: Path | None = None,
    ):
        self.database_url = database_url
        self.redis_url = redis_url
        self.q_workers = q_workers
        self.web_workers = web_workers
        self.web_threads = web_threads
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="flowsite-bench-"))
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.receiver: subprocess.Popen | None = None
        self.receiver_url = ""
        self.web_url = ""
        if not self.database_url:
            self.sqlite_path = ROOT / "var" / "bench.sqlite3"
            self.database_url = f"sqlite:///{self.sqlite_path}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "flowsite.settings",
            "SECRET_KEY": "bench-only-secret-key",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/32",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": self.database_url,
            "Q_WORKERS": str(q_workers),
            "PYTHONPATH": str(ROOT),
            **(extra_env or {}),
        }
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        else:
            self.env.pop("REDIS_URL", None)

    @property
    def label(self) -> str:
        db = "PostgreSQL" if self.database_url.startswith("postgres") else "SQLite"
        broker = "Redis" if self.redis_url else "ORM broker"
        return f"{db} + {broker}"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgres")

    # -- database

    def reset_database(self) -> None:
        if self.is_postgres:
            parts = urlsplit(self.database_url)
            name = parts.path.lstrip("/")
            if not name.startswith(BENCH_DB):
                raise SystemExit(f"refusing to drop database {name!r}: bench databases are named {BENCH_DB}*")
            import psycopg

            admin = parts._replace(path="/postgres").geturl()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.sqlite_path}{suffix}").unlink(missing_ok=True)
        self.manage("migrate", "--noinput", quiet=True)

    def manage(self, *args: str, quiet: bool = False) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=False
        )
        if result.returncode:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def app(self, *args: str) -> dict:
        """Run a bench.app command inside Flowsite and return its JSON."""
        result = subprocess.run(
            [PYTHON, "-m", "bench.app", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=False
        )
        if result.returncode:
            raise SystemExit(f"bench.app {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def deploy(self) -> dict:
        """A fresh database, the receiver, Flowsite's benchmark data, the web and the worker.
        Returns what `bench.app setup` made (ids, slugs, a token)."""
        self.reset_database()
        self.start_receiver()
        data = self.app("setup", self.receiver_url)
        self.start_web()
        self.start_worker()
        return data

    # -- processes

    def _log(self, name: str):
        return open(self.log_dir / f"{name}.log", "ab")

    def start_receiver(self) -> str:
        ready = self.log_dir / "receiver.port"
        ready.unlink(missing_ok=True)
        self.receiver = subprocess.Popen(
            [PYTHON, "-m", "bench.receiver", "--ready-file", str(ready)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._log("receiver"),
            start_new_session=True,
        )
        if not wait_for(lambda: ready.exists() and ready.read_text().strip(), 15):
            raise SystemExit("the receiver did not start")
        self.receiver_url = f"http://127.0.0.1:{ready.read_text().strip()}"
        return self.receiver_url

    def start_web(self, app: str = "flowsite.wsgi:application", env: dict | None = None) -> str:
        port = free_port()
        self.web = subprocess.Popen(
            [
                str(Path(PYTHON).parent / "gunicorn"),
                app,
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(self.web_workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(self.web_threads),
                "--keep-alive",
                "30",
                "--backlog",
                "1024",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=self._log("web"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.web_url = f"http://127.0.0.1:{port}"
        if not wait_for(self._web_up, 30, 0.1):
            raise SystemExit(f"gunicorn did not start; see {self.log_dir / 'web.log'}")
        return self.web_url

    def _web_up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", int(self.web_url.rsplit(":", 1)[1])), timeout=0.5):
                return True
        except OSError:
            return False

    def start_worker(self) -> subprocess.Popen:
        self.worker = subprocess.Popen(
            [PYTHON, "manage.py", "qcluster"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log("worker"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # The cluster is ready when its worker processes exist.
        wait_for(lambda: len(children(self.worker.pid)) >= self.q_workers + 1, 20, 0.05)
        time.sleep(0.5)
        return self.worker

    def kill_worker(self, sig=signal.SIGKILL) -> None:
        if self.worker and self.worker.poll() is None:
            # SIGKILL takes the whole group at once; any other signal goes to the cluster's main
            # process, which stops its children in order (signalled too, they leave it waiting).
            if sig == signal.SIGKILL:
                os.killpg(self.worker.pid, sig)
            else:
                self.worker.send_signal(sig)
            try:
                self.worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, signal.SIGKILL)
                self.worker.wait(timeout=10)

    def kill_one_worker_process(self) -> int | None:
        """kill -9 one django-q2 worker process (not the whole cluster): the sentinel replaces it."""
        kids = children(self.worker.pid) if self.worker else []
        if not kids:
            return None
        victim = kids[-1]
        os.kill(victim, signal.SIGKILL)
        return victim

    def stop(self) -> None:
        for proc in (self.worker, self.web, self.receiver):
            if proc is not None and proc.poll() is None:
                try:
                    # The main process (see kill_worker); gunicorn's arbiter stops its workers too.
                    proc.terminate()
                    proc.wait(timeout=15)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    pass
                try:  # whatever of the group is left, so no session outlives the bench database
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)

    # -- observation

    def memory(self) -> dict:
        """Resident memory (KB) of the largest worker process and the largest web process."""
        worker = max((rss_kb(p) for p in children(self.worker.pid)), default=0) if self.worker else 0
        web = max((rss_kb(p) for p in children(self.web.pid)), default=0) if self.web else 0
        return {"worker_kb": worker, "web_kb": web}

    def worker_cpu(self) -> float:
        """CPU seconds used so far by the qcluster and all its processes."""
        if not self.worker:
            return 0.0
        return sum(cpu_seconds(pid) for pid in [self.worker.pid, *children(self.worker.pid)])

    def web_cpu(self) -> float:
        """CPU seconds used so far by gunicorn and its workers."""
        if not self.web:
            return 0.0
        return sum(cpu_seconds(pid) for pid in [self.web.pid, *children(self.web.pid)])

    def receiver_log(self, start: int = 0) -> list[list]:
        client = Http(self.receiver_url)
        try:
            status, body = client.request("GET", f"/__log?from={start}")
            return json.loads(body)
        finally:
            client.close()

    def receiver_wait(self, count: int, timeout: float) -> int:
        """Block (in the receiver, not in a polling loop) until `count` deliveries arrived."""
        client = Http(self.receiver_url, timeout=timeout + 10)
        try:
            return int(client.request("GET", f"/__wait?count={count}&timeout={timeout}")[1])
        finally:
            client.close()

    def receiver_count(self) -> int:
        client = Http(self.receiver_url)
        try:
            return int(client.request("GET", "/__count")[1])
        finally:
            client.close()
