"""What the apps above flows add to flows' answers, registered from their AppConfig.ready().

flows sits below tasks and never imports it. Mentions belong to tasks, so tasks tells flows how to
count the unread ones that the Flows API shows as a flow's `unread_mentions`.
"""

from collections.abc import Callable, Iterable

from flows.models import User

UnreadMentionsCounter = Callable[..., dict]

_unread_mentions: UnreadMentionsCounter | None = None


def unread_mentions_register(counter: UnreadMentionsCounter) -> None:
    """Called by tasks' AppConfig.ready(): `counter(user=, flow_ids=)` answers {flow id: count}."""
    global _unread_mentions
    _unread_mentions = counter


def unread_mentions_by_flow(*, user: User, flow_ids: Iterable) -> dict:
    """The viewer's unread mentions per flow id; flows missing from the answer have none."""
    if _unread_mentions is None:
        return {}
    return _unread_mentions(user=user, flow_ids=flow_ids)
