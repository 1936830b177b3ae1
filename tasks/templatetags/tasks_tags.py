from django import template

from tasks.identity import task_identity

register = template.Library()


@register.filter
def task_name(task, task_ref=None) -> str:
    """`{{ task|task_name }}`, or `{{ run.task|task_name:run.task_ref }}` where the task may be gone."""
    return task_identity(task or None, task_ref=task_ref)


# Where a change came from (TaskEvent.source), as the task's history says it.
SOURCES = {
    "web": "in the browser",
    "api": "through the API",
    "action": "by an action",
    "workflow": "by a workflow",
    "system": "by Flowsite",
}


@register.filter
def event_source(source) -> str:
    return SOURCES.get(str(source), f"via {source}")
