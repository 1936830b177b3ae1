"""Background entry points for django-q2: they take ids and call one service."""

import gc
import logging
import random
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections

from actions.engine import run_next_wake_in, run_sweep
from actions.engine import run_wake as _run_wake

logger = logging.getLogger(__name__)


def run_wake(run_id: int) -> None:
    _run_wake(run_id)


_sweeper_started = threading.Event()


def collect_at_spawn(**kwargs) -> None:
    """Take a worker's first full garbage collection as it spawns, not under its first load. A
    forked worker starts with no count of long-lived objects, so its first full collection came
    about a second into its first burst and walked the ~118,000 objects Django and the apps hold:
    110-150 ms, in every worker at once, since they all do the same work (bench/README.md). Taken
    here, it also sets that count, and the next full collection waits until a quarter as many again
    have survived: in a steady worker, rarely."""
    gc.collect()


# Sweeps of the apps above actions, run by every worker's sweeper thread: (sweep, every seconds or
# None for every sweep). They register in their AppConfig.ready(), since actions must not import them.
SWEEPS: list[tuple[Callable[[], object], float | None]] = []


def sweep_register(*, sweep: Callable[[], object], every: float | None = None) -> None:
    """Run `sweep()` in each worker's sweeper thread every `every` seconds (None: with each sweep)."""
    if all(registered is not sweep for registered, _every in SWEEPS):
        SWEEPS.append((sweep, every))


def start_sweeper(**kwargs) -> None:
    """Started in every django-q2 worker process as it spawns (the `post_spawn` signal): a
    daemon thread that sweeps every SWEEP_INTERVAL x workers seconds, so a cluster as a whole
    sweeps about every SWEEP_INTERVAL, starting the moment it starts, with no scheduler."""
    if _sweeper_started.is_set():
        return
    _sweeper_started.set()
    workers = max(1, int(settings.Q_CLUSTER.get("workers", 1)))
    interval = float(getattr(settings, "SWEEP_INTERVAL", 0.5)) * workers
    threading.Thread(target=_sweep_forever, args=(interval,), name="flowsite-sweeper", daemon=True).start()


def _sweep_forever(interval: float) -> None:
    # Spread the workers' sweeps over the interval instead of all at once.
    time.sleep(random.uniform(0, interval))
    # Sweeps with a period of their own start at a random point of it, for the same reason.
    next_at = [time.monotonic() + random.uniform(0, every or 0) for _sweep, every in SWEEPS]
    while True:
        pause = interval
        try:
            run_sweep()
            # Wake for the next wait that falls due before the next regular sweep, so a quiet
            # system rings it on time instead of up to a whole interval late.
            pause = min(interval, max(0.01, run_next_wake_in()))
        except Exception:  # the database may be down for a while; keep trying
            logger.warning("sweep failed; retrying", exc_info=True)
        for index, (sweep, every) in enumerate(SWEEPS):
            if time.monotonic() < next_at[index]:
                continue
            next_at[index] = time.monotonic() + (every or 0)
            try:
                sweep()
            except Exception:  # one sweep's failure must not stop the others
                logger.warning("%s failed; retrying", getattr(sweep, "__name__", sweep), exc_info=True)
        close_old_connections()
        time.sleep(pause)
