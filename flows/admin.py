from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from flows.models import CacheVersion, Field, Flow, FlowMembership, Organization, OrganizationMembership, Stage, User
from flows.selectors import flow_readable_ids
from flows.services import flow_schema_bump
from flowsite.secrets import MASK


class FlowReadableAdmin(admin.ModelAdmin):
    """For models that carry task data (tasks, their history, comments, runs and their step records):
    a superuser sees every row; staff who are not superusers see, even with the model's permissions,
    only rows of flows whose tasks they may read as a person (flows.selectors.flow_readable_ids), so
    the admin is no way around the rule. `flow_lookups` names the path(s) from the row to its flow;
    a row must pass every one (a link between tasks of two flows needs both)."""

    flow_lookups: tuple[str, ...] = ("flow",)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        readable = flow_readable_ids(user=request.user)
        for lookup in self.flow_lookups:
            qs = qs.filter(**{f"{lookup}__in": readable})
        return qs


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["id"]
    list_display = ["id", "email", "first_name", "last_name", "nick", "disabled", "is_staff", "last_activity"]
    list_filter = ["disabled", "is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "first_name", "last_name", "nick"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["first_name", "last_name", "nick", "status", "avatar_url", "disabled"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Activity", {"fields": ["last_login", "date_joined", "last_activity", "last_ping"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


class OrganizationMembershipInline(admin.TabularInline):
    model = OrganizationMembership
    extra = 0
    raw_id_fields = ["user"]


class OrganizationAdminForm(forms.ModelForm):
    """The Twilio auth token is write-only: the form shows a mask, never the token, and a mask sent
    back keeps the stored token (a blank clears it)."""

    twilio_auth_token = forms.CharField(
        required=False,
        max_length=128,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text=f"Write-only. Leave {MASK} to keep the stored token; clear the field to remove it.",
    )

    class Meta:
        model = Organization
        fields = [
            "name",
            "parameterized_name",
            "user_limit",
            "active",
            "twilio_account_sid",
            "twilio_auth_token",
            "twilio_from_number",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["twilio_auth_token"] = MASK if self.instance.twilio_auth_token else ""

    def clean_twilio_auth_token(self) -> str:
        value = self.cleaned_data["twilio_auth_token"]
        if value == MASK:
            if not self.instance.twilio_auth_token:
                raise forms.ValidationError("Enter the token.")
            return self.instance.twilio_auth_token
        return value


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    form = OrganizationAdminForm
    list_display = ["id", "name", "parameterized_name", "user_limit", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "parameterized_name"]
    inlines = [OrganizationMembershipInline]


@admin.register(OrganizationMembership)
class OrganizationMembershipAdmin(admin.ModelAdmin):
    list_display = ["id", "organization", "user", "admin", "created_at"]
    list_filter = ["admin"]
    search_fields = ["organization__name", "user__email"]
    raw_id_fields = ["user", "organization"]


class SchemaPartAdmin(admin.ModelAdmin):
    """Stages and fields edited here bypass the schema services: retire cached schemas of the
    flow they were in and the flow they are in now (admin saves run in one transaction)."""

    def save_model(self, request, obj, form, change):
        before = type(obj).objects.filter(pk=obj.pk).values_list("flow_id", flat=True).first() if change else None
        super().save_model(request, obj, form, change)
        flow_schema_bump(flow_ids=[before, obj.flow_id])

    def delete_model(self, request, obj):
        flow_schema_bump(flow_ids=[obj.flow_id])
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        flow_schema_bump(flow_ids=set(queryset.values_list("flow_id", flat=True)))
        super().delete_queryset(request, queryset)


class StageInline(admin.TabularInline):
    model = Stage
    extra = 0


class FieldInline(admin.TabularInline):
    model = Field
    extra = 0


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "organization", "access_mode", "module", "disabled", "created_at"]
    list_filter = ["access_mode", "disabled", "module"]
    search_fields = ["id", "name", "parameterized_name", "organization__name"]
    list_select_related = ["organization"]
    readonly_fields = ["id", "created_at"]
    exclude = ["signing_secret"]
    inlines = [StageInline, FieldInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # After the stage and field inlines; and the flow's full save wrote back the version it was
        # read with, which may be older than the schema: a new one either way.
        flow_schema_bump(flows=[form.instance])


@admin.register(FlowMembership)
class FlowMembershipAdmin(admin.ModelAdmin):
    list_display = ["id", "flow", "user", "disabled", "open", "can_edit", "created_at"]
    list_filter = ["disabled", "can_edit"]
    search_fields = ["flow__name", "user__email"]
    raw_id_fields = ["user", "flow"]


@admin.register(Stage)
class StageAdmin(SchemaPartAdmin):
    list_display = ["id", "name", "flow", "position", "end_stage", "outcome"]
    list_filter = ["end_stage", "outcome"]
    search_fields = ["name", "flow__name"]


@admin.register(Field)
class FieldAdmin(SchemaPartAdmin):
    list_display = ["id", "name", "type", "flow", "required", "unique", "position"]
    list_filter = ["type", "required", "unique"]
    search_fields = ["name", "flow__name"]


class BookkeepingAdmin(admin.ModelAdmin):
    """Rows the app keeps for itself (a version, a bell): shown, never edited by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CacheVersion)
class CacheVersionAdmin(BookkeepingAdmin):
    list_display = ["id", "value"]
