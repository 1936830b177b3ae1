"""`make run` (bin/run) end to end: the web server and the worker on SQLite with demo data, started
as a developer starts them but on a free loopback port and with a database in a temporary folder
(PORT and DATABASE_URL), so the repository's own var/ database and port 8000 stay untouched. The
printed login signs in over HTTP, the demo board shows, an action the worker runs moves a task, a
second run on the busy port is refused, Ctrl-C stops the web server and the worker, and a new run
starts at once on the same port."""

import os
import re
import signal
import socket
import subprocess

import pytest
import requests
from django.conf import settings

from tests.actions.test_worker import _live_members
from tests.receivers import wait_until

pytestmark = pytest.mark.slow

# What the developer's shell may carry that would make this run differ from a plain `make run`.
NOT_INHERITED = {
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
    "DEMO_MODE",
    "DEMO_BASE_URL",
    "OUTBOUND_ALLOWED_NETWORKS",
    "PORT",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid: int) -> dict[int, str]:
    """The processes whose parent is `pid`, with their command lines."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        if ppid == pid:
            found[int(entry)] = command
    return found


class MakeRun:
    """bin/run as a developer starts it, in a session of its own as a terminal's foreground job (so
    Ctrl-C is a SIGINT to its process group), on `port`, with its database in `folder`."""

    def __init__(self, folder, port: int, name: str):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = folder / f"{name}.log"
        env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
        env.update(PORT=str(port), DATABASE_URL=f"sqlite:///{folder / 'flowsite.sqlite3'}")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(settings.BASE_DIR / "bin" / "run")],
                cwd=folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.web: int | None = None
        self.worker: int | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def up(self) -> None:
        """Wait until the web server answers; note its process and the worker's."""
        # Migrating a new database and writing the demo data come first.
        assert wait_until(
            lambda: f"Flowsite is running at {self.base}" in self.output() or self.process.poll() is not None,
            timeout=180,
            interval=0.2,
        )
        assert self.process.poll() is None, self.output()
        started = children(self.process.pid)
        self.web = next(pid for pid, command in started.items() if "runserver" in command)
        self.worker = next(pid for pid, command in started.items() if "qcluster" in command)

        def answers() -> bool:
            try:
                return requests.get(f"{self.base}/login", timeout=5).status_code == 200
            except requests.ConnectionError:
                return False

        assert wait_until(answers, timeout=60, interval=0.2)

    def ctrl_c(self) -> None:
        """Ctrl-C: bin/run ends with status 0, and neither the web server nor the worker (the
        cluster's main process, its sentinel and its workers) is left behind."""
        os.killpg(self.process.pid, signal.SIGINT)
        assert self.process.wait(timeout=60) == 0
        assert "Flowsite stopped" not in self.output()  # stopped by Ctrl-C, not because one side died
        assert not running(self.web) and not listening(self.port)
        assert wait_until(lambda: not _live_members(self.worker), timeout=15, interval=0.1)

    def kill(self) -> None:
        """After a failure: nothing of this run may outlive the test."""
        for group in (self.process.pid, self.worker):
            if group is not None:
                try:
                    os.killpg(group, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.process.wait(timeout=10)


@pytest.fixture
def make_run(tmp_path):
    started = []

    def start(port: int):
        started.append(MakeRun(tmp_path, port, f"run-{len(started) + 1}"))
        return started[-1]

    yield start
    for run in started:
        if run.process.poll() is None:
            run.kill()
        print(f"--- bin/run output ({run.log.name}) ---\n{run.output()}")


def test_make_run_serves_the_demo_with_its_worker_and_ctrl_c_stops_both(make_run):
    run = make_run(free_port())
    run.up()
    printed = re.search(
        r"Log in at (?P<base>\S+)/login with\s+email:\s+(?P<email>\S+)\s+password:\s+(?P<password>\S+)\s+"
        r"The demo flow is at (?P<flow>/\S+)",
        run.output(),
    )
    assert printed is not None and printed["base"] == run.base
    browser = requests.Session()
    browser.get(f"{run.base}/login", timeout=10)
    signed_in = browser.post(
        f"{run.base}/login",
        data={
            "username": printed["email"],
            "password": printed["password"],
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        timeout=10,
    )
    assert signed_in.status_code == 200 and "sessionid" in browser.cookies
    board = browser.get(f"{run.base}{printed['flow']}", timeout=10)
    assert board.status_code == 200
    for shown in ("Sales Pipeline", "Not Started", "In Progress", "Completed", "Acme Corp", "Globex", "Initech"):
        assert shown in board.text

    # The worker is up: the demo's Start action on a card runs to its end.
    start_form = r'<form method="post" action="([^"]+/perform)"(?:(?!</form>).)*?data-action="Start"'
    start = re.search(start_form, board.text, re.S)
    assert start is not None
    performed = browser.post(
        f"{run.base}{start[1]}", data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]}, timeout=10
    )
    assert performed.status_code == 200 and "/runs/" in performed.url
    assert wait_until(
        lambda: 'status-pill success" id="run-status-pill"' in browser.get(performed.url, timeout=10).text,
        timeout=60,
        interval=0.2,
    )

    # A second `make run` on the port in use says so and starts nothing.
    second = make_run(run.port)
    assert second.process.wait(timeout=30) == 1
    assert f"Port {run.port} on 127.0.0.1 is already in use" in second.output()

    run.ctrl_c()

    # Started again at once, on the same port and the same database (the demo data kept).
    again = make_run(run.port)
    again.up()
    again.ctrl_c()
