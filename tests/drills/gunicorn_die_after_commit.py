"""gunicorn settings for the outbox drill (`-c` this file): the web worker kills itself (SIGKILL,
nothing runs after it) right after each commit that recorded task events, ahead of the hook that
rings the dispatcher, so every write commits and then the process dies without a word to anyone."""

import os
import signal


def post_worker_init(worker):
    # The app is loaded by now, so the workflows app has registered its doorbell: go first.
    from tasks.services import EVENTS_RECORDED_HOOKS, EVENTS_RING_TOPICS

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    EVENTS_RECORDED_HOOKS.insert(0, die)
    # Every doorbell rung by its hook after the commit, none in the write's own statement: so this
    # process dies before ringing anyone, as one that dies between its commit and its hooks does.
    EVENTS_RING_TOPICS.clear()
