from django.contrib import admin

from flows.admin import FlowReadableAdmin
from tasks.models import Comment, Mention, Notification, Task, TaskEvent, TaskLink


@admin.register(Task)
class TaskAdmin(FlowReadableAdmin):
    list_display = ["id", "flow", "key", "stage", "assignee", "updated_at"]
    list_filter = [("flow", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["key", "flow__name", "assignee__email"]
    list_select_related = ["flow", "stage", "assignee"]
    raw_id_fields = ["flow", "stage", "assignee", "created_by"]


@admin.register(TaskEvent)
class TaskEventAdmin(FlowReadableAdmin):
    list_display = ["id", "flow", "task_ref", "kind", "source", "actor", "depth", "created_at", "dispatched_at"]
    list_filter = ["kind", "source"]
    search_fields = ["task_ref", "flow__name", "actor__email"]
    raw_id_fields = ["flow", "task", "actor"]


@admin.register(Comment)
class CommentAdmin(FlowReadableAdmin):
    flow_lookups = ("task__flow",)
    list_display = ["id", "task", "author", "created_at"]
    search_fields = ["body", "author__email"]
    raw_id_fields = ["task", "author"]


@admin.register(Mention)
class MentionAdmin(FlowReadableAdmin):
    list_display = ["id", "user", "flow", "task", "read_at"]
    raw_id_fields = ["comment", "task", "flow", "user"]


@admin.register(Notification)
class NotificationAdmin(FlowReadableAdmin):
    # Every notification names its flow (mentions, failed actions, workflow messages).
    list_display = ["id", "user", "kind", "message", "read_at", "created_at"]
    list_filter = ["kind"]
    search_fields = ["message", "user__email"]
    raw_id_fields = ["user", "flow", "task"]


@admin.register(TaskLink)
class TaskLinkAdmin(FlowReadableAdmin):
    flow_lookups = ("from_task__flow", "to_task__flow")
    list_display = ["id", "from_task", "relation", "to_task", "created_at"]
    list_filter = ["relation"]
    raw_id_fields = ["from_task", "to_task"]
