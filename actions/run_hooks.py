"""Who hears that a run failed besides the person who performed it. Higher apps register a listener
in their AppConfig.ready() (the workflows tell a workflow's owner), so the engine never imports them."""

from __future__ import annotations

import logging
from collections.abc import Callable

from actions.models import Run

logger = logging.getLogger(__name__)

RunFailureListener = Callable[..., None]
_failure_listeners: list[RunFailureListener] = []


def run_failure_listener(listener: RunFailureListener) -> RunFailureListener:
    """Register ``listener(*, run, error)``; called once per failed run, after the failure is recorded."""
    if listener not in _failure_listeners:
        _failure_listeners.append(listener)
    return listener


def run_failure_announce(*, run: Run, error: str) -> None:
    # The failure is already committed; a listener that breaks must not undo or hide it.
    for listener in _failure_listeners:
        try:
            listener(run=run, error=error)
        except Exception:
            logger.exception("run %s: a failure listener failed", run.pk)
