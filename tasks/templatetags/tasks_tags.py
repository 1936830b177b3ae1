from django import template

from tasks.identity import task_identity

register = template.Library()


@register.filter
def task_name(task, task_ref=None) -> str:
    """`{{ task|task_name }}`, or `{{ run.task|task_name:run.task_ref }}` where the task may be gone."""
    return task_identity(task or None, task_ref=task_ref)
