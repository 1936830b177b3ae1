from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"

    def ready(self) -> None:
        # The workflow step types register themselves in actions' step registry on import: the
        # higher app registers with the lower one, which never imports it. Here, not at the top:
        # apps.py loads before the models.
        import workflows.steps  # noqa: F401

        # The apps below must not import workflows: workflows registers with them instead.
        from actions.jobs import sweep_register
        from tasks.services import task_events_subscribe
        from workflows.dispatch import OUTBOX_TOPIC, events_enqueue, flow_has_triggers
        from workflows.jobs import events_sweep, overdue_sweep, start_dispatcher

        # A task write never matches workflows itself; in a worker process it wakes the dispatcher.
        # Events of a flow without a module trigger nothing: they are not dispatched at all.
        # Its hook rings the outbox's doorbell; the dispatchers, this process's too, listen to it.
        task_events_subscribe(hook=events_enqueue, heard=flow_has_triggers, topic=OUTBOX_TOPIC)
        sweep_register(sweep=events_sweep)
        # Every worker process dispatches task events in a thread of its own, as it sweeps.
        from django_q.signals import post_spawn

        post_spawn.connect(start_dispatcher, dispatch_uid="flowsite-dispatcher")
        # Overdue tasks are looked for once a minute per worker process.
        sweep_register(sweep=overdue_sweep, every=60.0)

        from actions.run_hooks import run_failure_listener
        from workflows.services import workflow_run_failure_notify

        # A failed workflow run has no performer to tell; its owner hears of it instead.
        run_failure_listener(workflow_run_failure_notify)
