"""Workflows API (seed 003): exact paths, camelCase JSON. Admins write; members read."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from actions.engine import run_retry
from actions.models import Run
from flows.selectors import organization_is_admin
from flowsite.api import (
    ApiView,
    Forbidden,
    InputSerializer,
    ServiceError,
    StrictBooleanField,
    StrictCharField,
    choice_field,
    flatten_errors,
    name_field,
    output,
    validated,
)
from flowsite.bounds import INT64_MAX, PAGE_MAX, PAGE_SIZE_MAX
from workflows import selectors, services
from workflows.models import Workflow
from workflows.serializers import (
    TRIGGER_TYPES,
    TriggerFiltersField,
    WorkflowActionItem,
    WorkflowOut,
    WorkflowRunDetailOut,
    WorkflowRunOut,
    workflow_json,
    workflow_run_json,
)
from workflows.triggers import TRIGGERS

MAX_LIMIT = 100
assert MAX_LIMIT <= PAGE_SIZE_MAX  # so (page - 1) * limit, an SQL OFFSET, fits in 64 bits

MUST_BE_BOOLEAN = {"invalid": "Must be true or false."}


def _check_workflow(serializer_class, request, *, workflow: Workflow | None = None) -> None:
    """The body's shape (the serializer) and the workflow's rules (the service) answer together, so a
    person fixes every error after one request instead of one group per request."""
    serializer = serializer_class(data=request.data)
    if serializer.is_valid():
        return
    errors = flatten_errors(serializer.errors)
    try:
        services.workflow_validate(user=request.user, data=request.data, workflow=workflow)
    except ServiceError as exc:
        for key, reasons in exc.errors.items():
            errors.setdefault(key, reasons)
    raise ServiceError(errors)


class WorkflowIn(InputSerializer):
    """A workflow as written. The answer's read-only keys may be sent back, and are ignored."""

    name = name_field(required=False, max_length=200)
    description = StrictCharField(required=False, max_length=2000, allow_blank=True, allow_null=True)
    triggerModule = choice_field(list(TRIGGERS), required=False)
    # Which types belong to which module is the service's to check (and say, naming the module's types).
    triggerType = choice_field(TRIGGER_TYPES, required=False, help_text="One of the trigger module's types.")
    triggerFilters = TriggerFiltersField(required=False, allow_null=True)
    isActive = StrictBooleanField(required=False, error_messages=MUST_BE_BOOLEAN)
    actions = serializers.ListField(
        child=WorkflowActionItem(), required=False, error_messages={"not_a_list": "Must be a list of actions."}
    )
    organization = serializers.CharField(
        required=False, help_text="The organization's parameterized name or id; needed when you admin several."
    )
    flowId = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    id = serializers.JSONField(required=False, help_text="Ignored.")
    version = serializers.JSONField(required=False, help_text="Ignored.")
    createdAt = serializers.JSONField(required=False, help_text="Ignored.")
    updatedAt = serializers.JSONField(required=False, help_text="Ignored.")


class WorkflowListApi(ApiView):
    class FilterSerializer(serializers.Serializer):
        module = choice_field(list(TRIGGERS), required=False, allow_blank=True)
        organization = serializers.CharField(required=False, help_text="An organization's parameterized name.")

    class InputSerializer(WorkflowIn):
        name = name_field(max_length=200)
        triggerModule = choice_field(list(TRIGGERS))
        triggerType = choice_field(TRIGGER_TYPES, help_text="One of the trigger module's types.")

    OutputSerializer = WorkflowOut

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer(many=True))
    def get(self, request):
        query = validated(self.FilterSerializer, request.query_params.dict())
        workflows = selectors.workflow_list(
            user=request.user, module=query.get("module") or None, organization=query.get("organization")
        )
        return Response(output(self.OutputSerializer, [workflow_json(w) for w in workflows], many=True))

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        _check_workflow(self.InputSerializer, request)
        # The service reads the body as sent: an action's config is its action type's to clean.
        workflow = services.workflow_create(user=request.user, data=request.data)
        workflow = selectors.workflow_get(user=request.user, workflow_id=workflow.pk)
        return Response(output(self.OutputSerializer, workflow_json(workflow)), status=status.HTTP_201_CREATED)


class WorkflowDetailApi(ApiView):
    InputSerializer = WorkflowIn
    OutputSerializer = WorkflowOut

    @extend_schema(responses=OutputSerializer)
    def get(self, request, workflow_id):
        workflow = selectors.workflow_get(user=request.user, workflow_id=workflow_id)
        return Response(output(self.OutputSerializer, workflow_json(workflow)))

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request, workflow_id):
        """A new version of the workflow; runs already started keep the version they ran."""
        workflow = selectors.workflow_get(user=request.user, workflow_id=workflow_id)
        _check_workflow(self.InputSerializer, request, workflow=workflow)
        services.workflow_update(user=request.user, workflow=workflow, data=request.data)
        workflow = selectors.workflow_get(user=request.user, workflow_id=workflow_id)
        return Response(output(self.OutputSerializer, workflow_json(workflow)))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, workflow_id):
        workflow = selectors.workflow_get(user=request.user, workflow_id=workflow_id)
        services.workflow_delete(user=request.user, workflow=workflow)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WorkflowToggleApi(ApiView):
    class InputSerializer(InputSerializer):
        unknown_message = None
        isActive = StrictBooleanField(
            required=False, error_messages=MUST_BE_BOOLEAN, help_text="Absent: flip the workflow's state."
        )

    OutputSerializer = WorkflowOut

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def patch(self, request, workflow_id):
        """Enable or disable the workflow (no body, or no isActive, flips it)."""
        workflow = selectors.workflow_get(user=request.user, workflow_id=workflow_id)
        # An empty body arrives as {}; a JSON null is a body, and not an object.
        data = validated(self.InputSerializer, request.data)
        services.workflow_toggle(user=request.user, workflow=workflow, data=data)
        workflow = selectors.workflow_get(user=request.user, workflow_id=workflow_id)
        return Response(output(self.OutputSerializer, workflow_json(workflow)))


def _page_errors() -> dict[str, str]:
    return dict.fromkeys(("invalid", "min_value", "max_value", "max_string_length"), "Must be a positive whole number.")


class WorkflowRunListApi(ApiView):
    class FilterSerializer(serializers.Serializer):
        # A page must keep the OFFSET, (page - 1) * limit, in 64 bits.
        page = serializers.IntegerField(required=False, min_value=1, max_value=PAGE_MAX, error_messages=_page_errors())
        # Within 64 bits a larger limit is served as the largest page.
        limit = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=INT64_MAX,
            help_text=f"Runs per page, 20 unless given; more than {MAX_LIMIT} is served as {MAX_LIMIT}.",
            error_messages=_page_errors(),
        )
        status = choice_field(Run.Status.choices, required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        class Pagination(serializers.Serializer):
            page = serializers.IntegerField()
            limit = serializers.IntegerField()
            total = serializers.IntegerField()
            totalPages = serializers.IntegerField()

        data = WorkflowRunOut(many=True)
        pagination = Pagination()

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer)
    def get(self, request, workflow_id):
        """The workflow's runs on tasks the caller may read, newest first."""
        workflow = selectors.workflow_get(user=request.user, workflow_id=workflow_id)
        params = {key: value for key, value in request.query_params.dict().items() if value != ""}
        query = validated(self.FilterSerializer, params)
        page, limit = query.get("page", 1), min(query.get("limit", 20), MAX_LIMIT)
        runs = selectors.workflow_runs(user=request.user, workflow=workflow, status=query.get("status") or None)
        total = runs.count()
        items = runs[(page - 1) * limit : page * limit]
        pagination = {"page": page, "limit": limit, "total": total, "totalPages": -(-total // limit)}
        answer = {"data": [workflow_run_json(run) for run in items], "pagination": pagination}
        return Response(output(self.OutputSerializer, answer))


class WorkflowRunDetailApi(ApiView):
    OutputSerializer = WorkflowRunDetailOut

    @extend_schema(responses=OutputSerializer)
    def get(self, request, run_id):
        run = selectors.run_get_for_user(user=request.user, run_id=run_id)
        return Response(output(self.OutputSerializer, workflow_run_json(run, steps=True)))


class WorkflowRunRetryApi(ApiView):
    OutputSerializer = WorkflowRunDetailOut

    @extend_schema(request=None, responses=OutputSerializer)
    def post(self, request, run_id):
        """Run a failed run again from the step that failed."""
        run = selectors.run_get_for_user(user=request.user, run_id=run_id)
        if not organization_is_admin(user=request.user, organization=run.flow.organization):
            raise Forbidden("Only organization admins can retry workflow runs.")
        run_retry(run=run, actor=request.user)
        run = selectors.run_get_for_user(user=request.user, run_id=run_id)
        return Response(output(self.OutputSerializer, workflow_run_json(run, steps=True)))
