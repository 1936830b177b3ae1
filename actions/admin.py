from django.contrib import admin

from actions.models import Action, BuilderDraft, FlowVersion, Run, Step, StepRun
from flows.admin import FlowReadableAdmin


class StepInline(admin.TabularInline):
    model = Step
    extra = 0
    # Configs may hold encrypted secrets; they are edited in the builder, not here.
    readonly_fields = ["type", "position"]
    exclude = ["config"]


@admin.register(Action)
class ActionAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "flow", "navigate", "position", "updated_at"]
    search_fields = ["name", "flow__name"]
    list_select_related = ["flow"]
    inlines = [StepInline]


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ["id", "action", "type", "position"]
    list_filter = ["type"]
    search_fields = ["action__name"]
    exclude = ["config"]


class StepRunInline(admin.TabularInline):
    model = StepRun
    extra = 0
    can_delete = False
    fields = ["path", "type", "status", "attempts", "duration_ms", "error", "started_at", "finished_at"]
    readonly_fields = fields


@admin.register(Run)
class RunAdmin(FlowReadableAdmin):
    list_display = ["id", "kind", "name", "flow", "task_ref", "status", "version", "depth", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    search_fields = ["name", "task_ref", "flow__name"]
    list_select_related = ["flow"]
    readonly_fields = ["program", "context", "cursor", "errors", "lease_owner", "lease_expires_at", "rung_at"]
    raw_id_fields = ["flow", "task", "action", "workflow", "performed_by"]
    inlines = [StepRunInline]


@admin.register(StepRun)
class StepRunAdmin(FlowReadableAdmin):
    flow_lookups = ("run__flow",)
    list_display = ["id", "run", "path", "type", "status", "attempts", "duration_ms", "finished_at"]
    list_filter = ["status", "type"]
    search_fields = ["idempotency_key", "error"]
    raw_id_fields = ["run"]


@admin.register(FlowVersion)
class FlowVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "flow", "number", "created_by", "created_at"]
    search_fields = ["flow__name"]
    raw_id_fields = ["flow", "created_by"]
    exclude = ["snapshot"]


@admin.register(BuilderDraft)
class BuilderDraftAdmin(admin.ModelAdmin):
    list_display = ["id", "flow", "user", "updated_at"]
    raw_id_fields = ["flow", "user"]
    exclude = ["data"]
