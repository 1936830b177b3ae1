"""One name for a task, wherever a person reads it: the card, the task page's title, the Flow
Builder's test dropdown, run histories, notifications.

The rule: the value of the flow's unique key when the task has one ("43", "ACME-7"), else "#" and
the task's id ("#4"). Task.key holds the key's value as text, so no schema read is needed."""

from __future__ import annotations

from tasks.models import Task


def task_identity(task: Task | None, *, task_ref: int | None = None) -> str:
    """`task_ref` names a task that is gone (a run or an event keeps only its id)."""
    if task is None:
        return f"#{task_ref}" if task_ref is not None else ""
    return task.key or f"#{task.pk}"
