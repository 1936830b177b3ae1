from django.conf import settings
from django.db import models


class Action(models.Model):
    class Navigate(models.TextChoices):
        STAY = "stay", "Stay on the task"
        BOARD = "board", "Back to the board"

    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="actions")
    name = models.CharField(max_length=100)
    color = models.CharField(max_length=20, default="#2563eb")
    from_stages = models.ManyToManyField("flows.Stage", blank=True, related_name="actions")
    navigate = models.CharField(max_length=10, choices=Navigate.choices, default=Navigate.STAY)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(models.functions.Lower("name"), "flow", name="unique_action_name_per_flow")
        ]

    def __str__(self) -> str:
        return self.name


class Step(models.Model):
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="steps")
    type = models.CharField(max_length=40)
    config = models.JSONField(default=dict, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.type} #{self.position}"


class Run(models.Model):
    """One performance of an action or one firing of a workflow: a program of steps against a task.

    The row is the source of truth; the queue only says "look at run N".
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        WAITING = "waiting"
        SUCCESS = "success"
        FAIL = "fail"

    class Kind(models.TextChoices):
        ACTION = "action"
        WORKFLOW = "workflow"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ACTION)
    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="runs")
    task = models.ForeignKey("tasks.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    task_ref = models.BigIntegerField(db_index=True)
    action = models.ForeignKey(Action, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    workflow = models.ForeignKey(
        "workflows.Workflow", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    # The program as it was when the run started, so later edits never change a run in flight.
    name = models.CharField(max_length=200)
    program = models.JSONField(default=list)
    version = models.PositiveIntegerField(default=1)
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    # Trigger data for workflows (event id, old values), chain depth.
    context = models.JSONField(default=dict, blank=True)
    depth = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    # Path of the next step in the program: [index] or, inside branches, [index, "then", index, ...].
    cursor = models.JSONField(default=list, blank=True)
    wake_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # When a sweeper last rang for this run, so it rings once per run, not once per sweep.
    rung_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "wake_at"]), models.Index(fields=["task_ref", "status"])]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.name}, {self.status})"

    @property
    def retryable(self) -> bool:
        """A failed run can go again from its failed step; one that never started (no program: a
        workflow loop stopped, say) has no step to go from."""
        return self.status == self.Status.FAIL and bool(self.program)

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCESS, self.Status.FAIL)


class StepRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCESS = "success"
        FAIL = "fail"
        WAITING = "waiting"
        SKIPPED = "skipped"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="step_runs")
    # Position in the program, e.g. "2" or "1.then.0" inside a branch.
    path = models.CharField(max_length=100)
    step_id = models.CharField(max_length=64, blank=True)
    type = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    attempts = models.PositiveSmallIntegerField(default=0)
    idempotency_key = models.CharField(max_length=100)
    # Redacted: never holds secret header values.
    request = models.JSONField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["run", "path"], name="unique_step_run_path")]

    def __str__(self) -> str:
        return f"{self.type} {self.path} ({self.status})"


class FlowVersion(models.Model):
    """One saved state of a flow's design (its stages, and its actions with their steps).

    Every write of an action (builder Save, API, restore) records one, so a run can say which
    design it ran and an earlier design can be restored. Step configs are kept as stored:
    secret header values stay encrypted in the snapshot.
    """

    class Source(models.TextChoices):
        BUILDER = "builder", "Flow Builder"
        API = "api", "API"
        RESTORE = "restore", "Restore"
        SYSTEM = "system", "System"

    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    snapshot = models.JSONField(default=dict)
    summary = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["flow_id", "-number"]
        constraints = [models.UniqueConstraint(fields=["flow", "number"], name="unique_flow_version_number")]

    def __str__(self) -> str:
        return f"{self.flow} v{self.number}"


class BuilderDraft(models.Model):
    """A person's unsaved edits in the Flow Builder, kept server-side per (flow, person) so every
    builder interaction is a small request and nothing is lost on a reload. Saved through the
    action services, then rebuilt from the database."""

    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="builder_drafts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flow", "user"], name="unique_builder_draft")]

    def __str__(self) -> str:
        return f"Draft of {self.flow} by {self.user}"
