from django.apps import AppConfig


class ActionsConfig(AppConfig):
    name = "actions"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from actions.jobs import collect_at_spawn, start_sweeper

        post_spawn.connect(collect_at_spawn, dispatch_uid="flowsite-collect-at-spawn")
        post_spawn.connect(start_sweeper, dispatch_uid="flowsite-sweeper")
        # The action step types register themselves on import (here: apps.py loads before the models).
        import actions.steps  # noqa: F401
        from actions.selectors import action_list, runs_failed_unseen
        from actions.views import buttons_context
        from tasks.extensions import task_actions_register

        # The board and the task page (tasks) show the actions' buttons without importing actions.
        task_actions_register(action_list=action_list, buttons_context=buttons_context, failed_runs=runs_failed_unseen)
