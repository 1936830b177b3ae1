from django.contrib import admin

from tasks.models import Comment, Mention, Notification, Task, TaskEvent, TaskLink


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "flow", "key", "stage", "assignee", "updated_at"]
    list_filter = ["flow"]
    search_fields = ["key", "flow__name", "assignee__email"]
    list_select_related = ["flow", "stage", "assignee"]
    raw_id_fields = ["flow", "stage", "assignee", "created_by"]


@admin.register(TaskEvent)
class TaskEventAdmin(admin.ModelAdmin):
    list_display = ["id", "flow", "task_ref", "kind", "source", "actor", "depth", "created_at", "dispatched_at"]
    list_filter = ["kind", "source"]
    search_fields = ["task_ref", "flow__name", "actor__email"]
    raw_id_fields = ["flow", "task", "actor"]


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "author", "created_at"]
    search_fields = ["body", "author__email"]
    raw_id_fields = ["task", "author"]


@admin.register(Mention)
class MentionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "flow", "task", "read_at"]
    raw_id_fields = ["comment", "task", "flow", "user"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "kind", "message", "read_at", "created_at"]
    list_filter = ["kind"]
    search_fields = ["message", "user__email"]
    raw_id_fields = ["user", "flow", "task"]


@admin.register(TaskLink)
class TaskLinkAdmin(admin.ModelAdmin):
    list_display = ["id", "from_task", "relation", "to_task", "created_at"]
    list_filter = ["relation"]
    raw_id_fields = ["from_task", "to_task"]
