from django.conf import settings
from django.db import models


class Task(models.Model):
    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="tasks")
    stage = models.ForeignKey("flows.Stage", on_delete=models.PROTECT, related_name="tasks")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_tasks"
    )
    # Field values keyed by Field id (as a string), so renaming a field rewrites nothing.
    data = models.JSONField(default=dict, blank=True)
    # The unique key's value as text, for lookups by `:key` and the uniqueness check.
    key = models.CharField(max_length=255, blank=True, default="", db_index=True)
    tags = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["flow", "stage", "-id"]), models.Index(fields=["flow", "assignee"])]
        constraints = [
            models.UniqueConstraint(fields=["flow", "key"], condition=~models.Q(key=""), name="unique_task_key"),
        ]

    def __str__(self) -> str:
        return f"Task {self.pk}"


class TaskEvent(models.Model):
    class Kind(models.TextChoices):
        CREATED = "created"
        UPDATED = "updated"
        DELETED = "deleted"

    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="task_events")
    # Kept after the task is deleted, so history and triggers still know which task it was.
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    task_ref = models.BigIntegerField(db_index=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # Where the change came from: web, api, action, workflow, system.
    source = models.CharField(max_length=20, default="api")
    # {"<Field name or Stage/Assigned To>": [old, new]} in the Task API's JSON form.
    changes = models.JSONField(default=dict, blank=True)
    # How many workflow runs deep this change is; bounds workflow chains.
    depth = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The events are the workflows' outbox: a write records them and nothing more; a worker
    # dispatches them in order and sets this in the transaction that starts their runs.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # Why matching this event failed (the event is still dispatched, so later ones are not held up).
    dispatch_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The dispatcher's queue: only the undispatched few, however long the history grows.
            models.Index(fields=["id"], condition=models.Q(dispatched_at__isnull=True), name="taskevent_undispatched"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} task {self.task_ref}"


class Comment(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Comment {self.pk} on task {self.task_id}"


class Mention(models.Model):
    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="mentions")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="mentions")
    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentions")
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "flow", "read_at"])]

    def __str__(self) -> str:
        return f"@{self.user} in comment {self.comment_id}"


class Notification(models.Model):
    """In-app notifications: mentions, failed actions, workflow messages."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    flow = models.ForeignKey("flows.Flow", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=30, default="info")
    message = models.TextField()
    url = models.CharField(max_length=500, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return self.message[:60]


class TaskLink(models.Model):
    """A directed link between tasks, possibly across flows: a follow-up task, the opportunity a
    lead became, the project an opportunity became, a task that belongs to a project."""

    class Relation(models.TextChoices):
        FOLLOW_UP = "follow_up"
        OPPORTUNITY = "opportunity"
        PROJECT = "project"
        PROJECT_TASK = "project_task"

    from_task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="links_out")
    to_task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="links_in")
    relation = models.CharField(max_length=20, choices=Relation.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["from_task", "to_task", "relation"], name="unique_task_link"),
        ]

    def __str__(self) -> str:
        return f"{self.from_task_id} -{self.relation}-> {self.to_task_id}"
