"""What the apps above tasks add to tasks' pages, registered from their AppConfig.ready().

tasks sits below actions and never imports it. The board's cards and the task page show the
buttons of the flow's actions, so actions tells tasks how to list them and what the buttons'
template (actions/_buttons.html) needs, and which failed runs a person has not dismissed yet
(their alert stays on the card and the task page until then).
"""

from collections.abc import Callable

from flows.models import Flow

_action_list: Callable[..., list] | None = None
_buttons_context: Callable[..., dict] | None = None
_failed_runs: Callable[..., dict] | None = None


def task_actions_register(
    *,
    action_list: Callable[..., list],
    buttons_context: Callable[..., dict],
    failed_runs: Callable[..., dict] | None = None,
) -> None:
    """Called by actions' AppConfig.ready(): `action_list(flow=)` lists the flow's actions (with
    their `from_stages`), `buttons_context(flow=, task=, user=)` is the context of one task's buttons,
    `failed_runs(user=, flow=)` maps the flow's task ids to the person's failed run not yet dismissed."""
    global _action_list, _buttons_context, _failed_runs
    _action_list, _buttons_context, _failed_runs = action_list, buttons_context, failed_runs


def action_list(*, flow: Flow) -> list:
    return list(_action_list(flow=flow)) if _action_list is not None else []


def buttons_context(*, flow: Flow, task, user=None) -> dict:
    if _buttons_context is None:
        return {"flow": flow, "task": task, "actions": []}
    return _buttons_context(flow=flow, task=task, user=user)


def failed_runs(*, user, flow: Flow) -> dict:
    if _failed_runs is None:
        return {}
    return _failed_runs(user=user, flow=flow)
