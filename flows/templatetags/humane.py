"""Template filters and tags over flowsite.humane: `{% when t %}`, `|label`, `|number`, `|money`."""

from __future__ import annotations

import datetime

from django import template
from django.utils.html import format_html

from flowsite.humane import code_label, format_number, time_ago, time_exact

register = template.Library()


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
    return code_label(value)


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
