from django.contrib import admin

from flows.admin import FlowReadableAdmin
from workflows.models import OverdueMark, RoundRobinCursor, Workflow, WorkflowAction


class WorkflowActionInline(admin.TabularInline):
    model = WorkflowAction
    extra = 0
    # Configs may hold encrypted secrets; they are edited in the workflow editor, not here.
    readonly_fields = ["action_type", "sort_order"]
    exclude = ["config"]


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "trigger_module", "trigger_type", "is_active", "version", "updated_at"]
    list_filter = ["trigger_module", "is_active"]
    search_fields = ["name", "description", "organization__name"]
    list_select_related = ["organization"]
    raw_id_fields = ["organization", "flow", "created_by"]
    inlines = [WorkflowActionInline]


@admin.register(WorkflowAction)
class WorkflowActionAdmin(admin.ModelAdmin):
    list_display = ["id", "workflow", "action_type", "sort_order"]
    list_filter = ["action_type"]
    search_fields = ["workflow__name"]
    exclude = ["config"]


@admin.register(RoundRobinCursor)
class RoundRobinCursorAdmin(admin.ModelAdmin):
    list_display = ["id", "workflow_action", "position"]


@admin.register(OverdueMark)
class OverdueMarkAdmin(FlowReadableAdmin):
    flow_lookups = ("task__flow",)
    list_display = ["id", "task", "due", "created_at"]
    raw_id_fields = ["task"]
