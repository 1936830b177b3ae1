"""What the apps above tasks add to tasks' pages, registered from their AppConfig.ready().

tasks sits below actions and never imports it. The board's cards and the task page show the
buttons of the flow's actions, so actions tells tasks how to list them and what the buttons'
template (actions/_buttons.html) needs.
"""

from collections.abc import Callable

from flows.models import Flow

_action_list: Callable[..., list] | None = None
_buttons_context: Callable[..., dict] | None = None


def task_actions_register(*, action_list: Callable[..., list], buttons_context: Callable[..., dict]) -> None:
    """Called by actions' AppConfig.ready(): `action_list(flow=)` lists the flow's actions (with
    their `from_stages`), `buttons_context(flow=, task=)` is the context of one task's buttons."""
    global _action_list, _buttons_context
    _action_list, _buttons_context = action_list, buttons_context


def action_list(*, flow: Flow) -> list:
    return list(_action_list(flow=flow)) if _action_list is not None else []


def buttons_context(*, flow: Flow, task) -> dict:
    if _buttons_context is None:
        return {"flow": flow, "task": task, "actions": []}
    return _buttons_context(flow=flow, task=task)
