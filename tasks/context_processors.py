"""Template context for every page."""

from functools import cache

from tasks.selectors import notification_unread_count


def notifications(request) -> dict:
    """The unread count for the top bar's badge. Lazy: a partial that never shows the badge costs no query."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    @cache
    def count() -> int:
        return notification_unread_count(user=user)

    return {"notifications_unread": count}
