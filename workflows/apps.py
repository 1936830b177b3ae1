from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"

    def ready(self) -> None:
        # The workflow step types register themselves in actions' step registry on import: the
        # higher app registers with the lower one, which never imports it. Here, not at the top:
        # apps.py loads before the models.
        import workflows.steps  # noqa: F401
