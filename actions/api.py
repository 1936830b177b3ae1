"""Actions API and the Flowdash-style execution API, under the flow."""

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response

from actions import selectors, services
from actions.models import Action
from actions.serializers import PUBLIC_STATUS, ActionOut, ActionStep, RunOut, action_json, run_json
from flows.models import User
from flows.selectors import flow_member_get
from flowsite.api import (
    PAGE_HEADERS,
    TOO_LARGE,
    ApiView,
    InputSerializer,
    StrictCharField,
    choice_field,
    name_field,
    output,
    paged,
    validated,
)
from flowsite.bounds import ID_MAX, INT64_MAX, PAGE_MAX, PAGE_SIZE_MAX
from flowsite.openapi import ConstField, FailShape, MessageError
from tasks.selectors import task_get_by_key


class ActionIn(InputSerializer):
    id = serializers.JSONField(required=False, help_text="Ignored.")
    name = name_field(required=False)
    color = StrictCharField(required=False, error_messages={"invalid": "Must be a colour like #2563eb."})
    from_stages = serializers.ListField(
        child=StrictCharField(), required=False, error_messages={"not_a_list": "Must be a list of stage names."}
    )
    steps = serializers.ListField(
        child=ActionStep(), required=False, error_messages={"not_a_list": "Must be a list of steps."}
    )
    navigate = choice_field(Action.Navigate.choices, required=False)


class ActionListApi(ApiView):
    class InputSerializer(ActionIn):
        name = name_field()

    OutputSerializer = ActionOut

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, org, flow):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        return Response(
            output(self.OutputSerializer, [action_json(a) for a in selectors.action_list(flow=found)], many=True)
        )

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, org, flow):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        validated(self.InputSerializer, request.data)
        # The service reads the body as sent: a step's config is the step type's to clean.
        action = services.action_create(flow=found, actor=request.user, data=request.data)
        action = selectors.action_get(flow=found, action_id=action.pk)
        return Response(output(self.OutputSerializer, action_json(action)), status=status.HTTP_201_CREATED)


class ActionDetailApi(ApiView):
    InputSerializer = ActionIn
    OutputSerializer = ActionOut

    @extend_schema(responses=OutputSerializer)
    def get(self, request, org, flow, action_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        return Response(
            output(self.OutputSerializer, action_json(selectors.action_get(flow=found, action_id=action_id)))
        )

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request, org, flow, action_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        action = selectors.action_get(flow=found, action_id=action_id)
        validated(self.InputSerializer, request.data)
        services.action_update(action=action, actor=request.user, data=request.data)
        action = selectors.action_get(flow=found, action_id=action_id)
        return Response(output(self.OutputSerializer, action_json(action)))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, org, flow, action_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        services.action_delete(action=selectors.action_get(flow=found, action_id=action_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaskActionsApi(ApiView):
    """The actions available to the task now."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, org, flow, key):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        task = task_get_by_key(flow=found, key=key)
        actions = selectors.actions_available(flow=found, task=task)
        return Response(output(self.OutputSerializer, [{"id": a.pk, "name": a.name} for a in actions], many=True))


def _fail(errors: list[str], code: int = 422) -> Response:
    return Response({"status": "Fail", "errors": errors}, status=code)


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "integer"}]})
class KeyField(serializers.Field):
    """A task's key or an id as a JSON string or number, read as text (a key is matched as text)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        return str(data)

    def to_representation(self, value):
        return value


def _required(name: str) -> dict[str, str]:
    return dict.fromkeys(("required", "null", "blank", "invalid"), f"{name} is required")


EXECUTION_ERRORS = {400: FailShape, 401: MessageError, 403: MessageError, 404: FailShape, 413: FailShape}
EXECUTION_ERRORS[422] = FailShape


EXECUTIONS_LIMIT = 20
EXECUTIONS_MAX_LIMIT = 100
assert EXECUTIONS_MAX_LIMIT <= PAGE_SIZE_MAX  # so (page - 1) * limit, an SQL OFFSET, fits in 64 bits
# ?status= takes Flowdash's public statuses (Pending, Success, Fail), any case.
STATUS_FILTER = {
    public.lower(): [state for state, shown in PUBLIC_STATUS.items() if shown == public]
    for public in dict.fromkeys(PUBLIC_STATUS.values())
}


def _whole_number(*, maximum: int, message: str, **kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=maximum,
        error_messages=dict.fromkeys(("invalid", "min_value", "max_value", "max_string_length"), message),
        **kwargs,
    )


class ExecutionsQuery(serializers.Serializer):
    task_id = serializers.CharField(required=False, help_text="Only the runs of this task (its id or unique key).")
    action_id = _whole_number(maximum=ID_MAX, message="action_id must be a whole number from 1")
    status = serializers.CharField(required=False, help_text="Pending, Success or Fail (any case).")
    # A larger limit within 64 bits is served as the largest page, as in the Task API.
    limit = _whole_number(
        maximum=INT64_MAX,
        message=f"limit must be a whole number from 1 to {EXECUTIONS_MAX_LIMIT}",
        help_text=f"Runs per page, {EXECUTIONS_LIMIT} unless given; more than {EXECUTIONS_MAX_LIMIT} is served as "
        f"{EXECUTIONS_MAX_LIMIT}.",
    )
    # (page - 1) * limit is an SQL OFFSET, which must fit in 64 bits.
    page = _whole_number(maximum=PAGE_MAX, message="page must be a whole number from 1")

    def validate_status(self, value: str) -> list[str]:
        statuses = STATUS_FILTER.get(value.strip().lower())
        if statuses is None:
            raise serializers.ValidationError("status must be one of Pending, Success, Fail")
        return statuses


class ExecutionListApi(ApiView):
    error_shapes = EXECUTION_ERRORS
    input_status = status.HTTP_422_UNPROCESSABLE_ENTITY

    class InputSerializer(InputSerializer):
        unknown_message = None
        body_message = "The body must be a JSON object."
        task_id = KeyField(help_text="The task's id or unique key.", error_messages=_required("task_id"))
        action_id = KeyField(help_text="The action's id.", error_messages=_required("action_id"))
        performed_by = serializers.EmailField(
            required=False,
            allow_null=True,
            allow_blank=True,
            help_text="Whom the run is recorded as performed by (an email); the caller when absent.",
            error_messages=dict.fromkeys(("invalid",), "performed_by must be an email."),
        )

        def validate_task_id(self, value):
            if not value.strip():
                raise serializers.ValidationError("task_id is required")
            return value

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = ConstField("Pending")

    def handle_exception(self, exc):
        # The execution API's own shape for a body it cannot read, like its other errors.
        if isinstance(exc, ParseError):
            return _fail([str(exc.detail)], status.HTTP_400_BAD_REQUEST)
        if isinstance(exc, RequestDataTooBig):
            return _fail([TOO_LARGE], status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        if isinstance(exc, exceptions.ValidationError):
            detail = exc.detail if isinstance(exc.detail, dict) else {"body": exc.detail}
            return _fail([str(reason) for reasons in detail.values() for reason in reasons])
        return super().handle_exception(exc)

    @extend_schema(parameters=[ExecutionsQuery, *PAGE_HEADERS], responses={200: RunOut(many=True)})
    def get(self, request, org, flow):
        """The flow's executions, newest first: ?task_id= (the task's key), ?action_id=, ?status=,
        paged with ?limit= and ?page= like the Task API (X-Total-Count, Link)."""
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        query = validated(ExecutionsQuery, {k: v for k, v in request.query_params.items() if v != ""})
        task_ref = None
        if "task_id" in query:
            try:
                task_ref = task_get_by_key(flow=found, key=query["task_id"]).pk
            except Http404:
                return _fail([f"No task {query['task_id']} in this flow."], 404)
        runs = selectors.run_list(
            user=request.user,
            flow=found,
            task_ref=task_ref,
            action_id=query.get("action_id"),
            statuses=query.get("status"),
        ).prefetch_related("step_runs")
        limit, page = min(query.get("limit", EXECUTIONS_LIMIT), EXECUTIONS_MAX_LIMIT), query.get("page", 1)
        start = (page - 1) * limit
        answer = Response(output(RunOut, [run_json(run) for run in runs[start : start + limit]], many=True))
        return paged(answer, request, page=page, limit=limit, total=runs.count())

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, 404: FailShape})
    def post(self, request, org, flow):
        """Perform an action on a task; the run goes on in the worker (GET the execution for its outcome)."""
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        data = validated(self.InputSerializer, request.data)
        try:
            task = task_get_by_key(flow=found, key=data["task_id"])
        except Http404:
            return _fail([f"No task {data['task_id']} in this flow."], 404)
        try:
            action = selectors.action_get(flow=found, action_id=data["action_id"])
        except Http404:
            return _fail([f"No action {data['action_id']} in this flow."], 404)
        performed_by = None
        if data.get("performed_by"):
            performed_by = User.objects.filter(email__iexact=data["performed_by"].strip()).first()
            if performed_by is None:
                return _fail([f"No user {data['performed_by']}."])
        try:
            run = services.action_perform(action=action, task=task, actor=request.user, performed_by=performed_by)
        except services.ActionUnavailable as exc:
            return _fail(exc.errors)
        return Response(output(self.OutputSerializer, {"id": run.pk, "status": "Pending"}), status=201)


class ExecutionDetailApi(ApiView):
    OutputSerializer = RunOut

    @extend_schema(responses=OutputSerializer)
    def get(self, request, org, flow, run_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        return Response(output(self.OutputSerializer, run_json(selectors.run_get(flow=found, run_id=run_id))))
