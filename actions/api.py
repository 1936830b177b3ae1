"""Actions API and the Flowdash-style execution API, under the flow."""

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response

from actions import selectors, services
from actions.models import Action
from actions.serializers import ActionOut, ActionStep, RunOut, action_json, run_json
from flows.models import User
from flows.selectors import flow_member_get
from flowsite.api import (
    TOO_LARGE,
    ApiView,
    InputSerializer,
    StrictCharField,
    choice_field,
    name_field,
    output,
    validated,
)
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
