from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"

    def ready(self) -> None:
        # Here, not at the top: apps.py loads before the models.
        from flows.extensions import unread_mentions_register
        from tasks.selectors import unread_mentions_by_flow

        # The Flows API (flows) counts unread mentions without importing tasks.
        unread_mentions_register(unread_mentions_by_flow)
