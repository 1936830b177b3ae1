"""Words and numbers as people read them: "2 minutes ago" with the exact time on hover, "Action
failed" for ACTION_FAILED, "12,500.50" for 12500.5. One place, so every page says it the same way."""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

register = template.Library()


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


@register.simple_tag
def when(value) -> str:
    """`{% when run.created_at %}`: <time datetime="…" title="2026-11-30 11:32:14 UTC">2 minutes ago</time>."""
    if not isinstance(value, datetime.datetime):
        return "—" if value in (None, "") else str(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(timespec="seconds"),
        time_exact(value),
        time_ago(value),
    )


@register.filter
def label(value) -> str:
    """A code as words: ACTION_FAILED, action_failed and "action-failed" all read "Action failed"."""
    if value in (None, ""):
        return ""
    words = str(value).replace("_", " ").replace("-", " ").split()
    text = " ".join(words).lower()
    return text[:1].upper() + text[1:]


def format_number(value, places: int | None = None) -> str:
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


@register.filter
def number(value) -> str:
    """12500 → "12,500"; 3.25 → "3.25"; anything that is not a number is shown as it is."""
    if value in (None, ""):
        return ""
    return format_number(value)


@register.filter
def money(value) -> str:
    """Currency as people write it: 12500.5 → "12,500.50"."""
    if value in (None, ""):
        return ""
    return format_number(value, 2)
