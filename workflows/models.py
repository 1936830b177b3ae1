import uuid

from django.conf import settings
from django.db import models


class Workflow(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("flows.Organization", on_delete=models.CASCADE, related_name="workflows")
    # Optional: narrow the trigger module to one flow of the organization.
    flow = models.ForeignKey("flows.Flow", null=True, blank=True, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    trigger_module = models.CharField(max_length=20)
    trigger_type = models.CharField(max_length=40)
    trigger_filters = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "created_at"]
        indexes = [models.Index(fields=["organization", "trigger_module", "trigger_type", "is_active"])]

    def __str__(self) -> str:
        return self.name


class WorkflowAction(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="actions")
    action_type = models.CharField(max_length=40)
    config = models.JSONField(default=dict, blank=True)
    sort_order = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return f"{self.action_type} #{self.sort_order}"


class RoundRobinCursor(models.Model):
    """Where a round-robin assignment continues; locked per assignment so concurrent runs
    hand out people fairly."""

    workflow_action = models.OneToOneField(WorkflowAction, on_delete=models.CASCADE, related_name="cursor")
    position = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.workflow_action_id} at {self.position}"


class OverdueMark(models.Model):
    """Remembers that task_overdue fired for a task's due date, so it fires once per due date."""

    task = models.ForeignKey("tasks.Task", on_delete=models.CASCADE, related_name="+")
    due = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "due"], name="unique_overdue_mark")]

    def __str__(self) -> str:
        return f"task {self.task_id} overdue for {self.due}"
