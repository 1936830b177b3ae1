from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"

    def ready(self) -> None:
        # The workflow step types register themselves in actions' step registry on import: the
        # higher app registers with the lower one, which never imports it. Here, not at the top:
        # apps.py loads before the models.
        import workflows.steps  # noqa: F401
        from actions.run_hooks import run_failure_listener
        from workflows.services import workflow_run_failure_notify

        # A failed workflow run has no performer to tell; its owner hears of it instead.
        run_failure_listener(workflow_run_failure_notify)
