"""Pages for tasks: the board and the task page."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from flows.models import Flow
from flows.schema import field_list
from flows.selectors import flow_member_get
from tasks import selectors, services
from tasks.values import field_to_json


def board(request, flow: Flow):
    stages = list(flow.stages.all())
    return render(request, "tasks/board.html", {"flow": flow, "stages": stages})


def _display(value) -> str:
    if value is None or value == []:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(item.get("filename", "") if isinstance(item, dict) else str(item) for item in value)
    return str(value)


@login_required
def task_detail(request, org, flow, task_id):
    """Read-only view of one task for flow members; opening it marks its mentions of the viewer read."""
    found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
    task = selectors.task_get(flow=found, task_id=task_id)
    services.mentions_mark_read(user=request.user, flow=found, task=task)
    rows = [
        (field, _display(field_to_json(field, (task.data or {}).get(str(field.pk)))))
        for field in field_list(flow=found)
    ]
    context = {
        "flow": found,
        "task": task,
        "rows": rows,
        "comments": list(selectors.comment_list(task=task)),
    }
    return render(request, "tasks/task_detail.html", context)
