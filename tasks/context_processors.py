"""Template context for every page."""

from functools import cache

from tasks.models import Notification


def notifications(request) -> dict:
    """The unread count for the top bar's badge. Lazy: a partial that never shows the badge costs no query."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    @cache
    def count() -> int:
        return Notification.objects.filter(user=user, read_at__isnull=True).count()

    return {"notifications_unread": count}
