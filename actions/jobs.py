"""Background entry points for django-q2: they take ids and call one service."""

import logging
import random
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from actions.engine import run_drain, run_due, run_execute, run_next_wake_in, run_sweep

logger = logging.getLogger(__name__)


def run_wake(run_id: int) -> None:
    run_execute(run_id, reload=False)
    run_due()
    run_drain()


_sweeper_started = threading.Event()
# Overdue tasks are looked for once a minute per worker process.
OVERDUE_EVERY = 60.0


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
    from workflows.jobs import overdue_sweep

    # Spread the workers' sweeps over the interval instead of all at once.
    time.sleep(random.uniform(0, interval))
    next_overdue = time.monotonic() + random.uniform(0, OVERDUE_EVERY)
    while True:
        pause = interval
        try:
            run_sweep()
            if time.monotonic() >= next_overdue:
                next_overdue = time.monotonic() + OVERDUE_EVERY
                overdue_sweep()
            # Wake for the next wait that falls due before the next regular sweep, so a quiet
            # system rings it on time instead of up to a whole interval late.
            pause = min(interval, max(0.01, run_next_wake_in()))
        except Exception:  # the database may be down for a while; keep trying
            logger.warning("sweep failed; retrying", exc_info=True)
        finally:
            close_old_connections()
        time.sleep(pause)
