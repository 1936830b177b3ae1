"""From task events to workflow runs."""


def task_event_recorded(event_id: int) -> None:
    """Called after the transaction that recorded TaskEvent `event_id` commits (tasks.services).

    The workflows issue implements it: match the event against workflow triggers and start runs.
    """
    pass
