"""Words and numbers as people read them: "2 minutes ago" with the exact time, "Action failed" for
ACTION_FAILED, "12,500.50" for 12500.5. Pure functions, for templates (flows/templatetags/humane.py)
and for views that shape values, so every page says it the same way."""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.timesince import timesince, timeuntil


def time_ago(value: datetime.datetime, now: datetime.datetime | None = None) -> str:
    now = now or timezone.now()
    if abs((now - value).total_seconds()) < 60:
        return "just now"
    # One unit is what people say ("2 hours ago", not "2 hours, 3 minutes ago").
    if value <= now:
        return f"{timesince(value, now, depth=1)} ago".replace("\xa0", " ")
    return f"in {timeuntil(value, now, depth=1)}".replace("\xa0", " ")


def time_exact(value: datetime.datetime) -> str:
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return local.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def code_label(value) -> str:
    """A code as words: ACTION_FAILED, action_failed and "action-failed" all read "Action failed"."""
    if value in (None, ""):
        return ""
    words = str(value).replace("_", " ").replace("-", " ").split()
    text = " ".join(words).lower()
    return text[:1].upper() + text[1:]


def format_number(value, places: int | None = None) -> str:
    """12500.5 -> "12,500.5" (or "12,500.50" with places=2); anything that is not a number as it is."""
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(value)
    if places is None:
        exponent = number.normalize().as_tuple().exponent
        places = max(0, -exponent) if isinstance(exponent, int) else 0
    return f"{number:,.{places}f}"
