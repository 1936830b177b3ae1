from django import template

from workflows.triggers import trigger_label as _trigger_label

register = template.Library()


@register.filter
def trigger_label(trigger_type) -> str:
    return _trigger_label(str(trigger_type or ""))
