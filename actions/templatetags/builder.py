from django import template

from flows.selectors import flow_can_edit

register = template.Library()


@register.simple_tag
def can_edit_flow(flow, user) -> bool:
    """Whether the person may design the flow (organization admins and members allowed to):
    `{% can_edit_flow flow request.user as may_edit %}`."""
    if flow is None or user is None or not getattr(user, "is_authenticated", False):
        return False
    return flow_can_edit(flow=flow, user=user)
