from django.apps import AppConfig


class ActionsConfig(AppConfig):
    name = "actions"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from actions.jobs import start_sweeper

        post_spawn.connect(start_sweeper, dispatch_uid="flowsite-sweeper")
        # The action step types register themselves on import (here: apps.py loads before the models).
        import actions.steps  # noqa: F401
