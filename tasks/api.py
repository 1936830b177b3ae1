"""The flow's schema API (stages, fields) and the Flowdash-style Task API, re-rooted under the flow.

Thin views: find the flow the caller works in (404 for everyone else), check the input's shape with the
operation's serializer, call a service, shape JSON. Schema errors use Flowdock's 400 {"message",
"errors"}; task data errors use Flowdash's 422 {"errors"}.
"""

from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response

from flows.selectors import flow_member_get
from flowsite.api import PAGE_HEADERS, TOO_LARGE, ApiView, flatten_errors, name_field, output, paged, validated
from flowsite.bounds import ID_MAX, INT64_MAX, PAGE_MAX, PAGE_SIZE_MAX
from flowsite.jsonsafe import UnsafeJSONError
from flowsite.openapi import ConfirmationErrorShape, MessageError, TaskErrorShape
from tasks import schema, selectors, services
from tasks.serializers import CommentIn, CommentOut, FieldIn, FieldOut, StageIn, StageOut, TaskObject
from tasks.values import TaskValidationError

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
assert MAX_LIMIT <= PAGE_SIZE_MAX  # so (page - 1) * limit, an SQL OFFSET, fits in 64 bits
PAGING_PARAMS = ("limit", "page")


def _body_dict(request) -> dict:
    # DELETE bodies are optional; only an object counts.
    data = request.data
    return data if isinstance(data, dict) else {}


# --- schema ------------------------------------------------------------------------------------


CONFIRMATION = {409: ConfirmationErrorShape}


class SchemaApiView(ApiView):
    def handle_exception(self, exc):
        if isinstance(exc, schema.ConfirmationRequired):
            return Response(
                {"message": "Validation error", "errors": exc.errors, "lost": exc.lost}, status=exc.status_code
            )
        return super().handle_exception(exc)


class StageListApi(SchemaApiView):
    class InputSerializer(StageIn):
        name = name_field()

    OutputSerializer = StageOut

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, org, flow):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        return Response(
            output(self.OutputSerializer, [schema.stage_json(s) for s in schema.stage_list(flow=found)], many=True)
        )

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, org, flow):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        data = validated(self.InputSerializer, request.data)
        stage = schema.stage_create(actor=request.user, flow=found, data=data)
        return Response(output(self.OutputSerializer, schema.stage_json(stage)), status=status.HTTP_201_CREATED)


MOVE_TO_MESSAGE = "Must be the id of another stage of this flow."


class StageDeleteQuery(serializers.Serializer):
    move_to = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=ID_MAX,
        help_text="The stage to move its tasks to (also accepted in the body).",
        error_messages=dict.fromkeys(("invalid", "min_value", "max_value", "max_string_length"), MOVE_TO_MESSAGE),
    )


class StageDetailApi(SchemaApiView):
    InputSerializer = StageIn
    OutputSerializer = StageOut

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request, org, flow, stage_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        stage = schema.stage_get(flow=found, stage_id=stage_id)
        data = validated(self.InputSerializer, request.data)
        stage = schema.stage_update(actor=request.user, flow=found, stage=stage, data=data)
        return Response(output(self.OutputSerializer, schema.stage_json(stage)))

    @extend_schema(request=None, parameters=[StageDeleteQuery], responses={204: None})
    def delete(self, request, org, flow, stage_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        stage = schema.stage_get(flow=found, stage_id=stage_id)
        move_to = request.query_params.get("move_to") or _body_dict(request).get("move_to")
        move_to = validated(StageDeleteQuery, {} if move_to in (None, "") else {"move_to": move_to}).get("move_to")
        schema.stage_delete(actor=request.user, flow=found, stage=stage, move_to=move_to)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FieldListApi(SchemaApiView):
    class InputSerializer(FieldIn):
        name = name_field()

    OutputSerializer = FieldOut

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, org, flow):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        return Response(
            output(self.OutputSerializer, [schema.field_json(f) for f in schema.field_list(flow=found)], many=True)
        )

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, org, flow):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        data = validated(self.InputSerializer, request.data)
        field = schema.field_create(actor=request.user, flow=found, data=data)
        return Response(output(self.OutputSerializer, schema.field_json(field)), status=status.HTTP_201_CREATED)


class ConfirmQuery(serializers.Serializer):
    confirm = serializers.BooleanField(
        required=False, default=False, help_text="Go ahead although tasks' values would be cleared."
    )


class FieldDetailApi(SchemaApiView):
    class InputSerializer(FieldIn):
        confirm = serializers.BooleanField(required=False, help_text="As the query parameter.")

    OutputSerializer = FieldOut

    @extend_schema(
        request=InputSerializer, parameters=[ConfirmQuery], responses={200: OutputSerializer, **CONFIRMATION}
    )
    def put(self, request, org, flow, field_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        field = schema.field_get(flow=found, field_id=field_id)
        data = validated(self.InputSerializer, request.data)
        confirm = validated(ConfirmQuery, request.query_params.dict())["confirm"] or data.pop("confirm", False)
        data.pop("confirm", None)
        field = schema.field_update(actor=request.user, flow=found, field=field, data=data, confirm=confirm)
        return Response(output(self.OutputSerializer, schema.field_json(field)))

    @extend_schema(request=None, parameters=[ConfirmQuery], responses={204: None, **CONFIRMATION})
    def delete(self, request, org, flow, field_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        field = schema.field_get(flow=found, field_id=field_id)
        body = _body_dict(request)
        confirm = validated(ConfirmQuery, request.query_params.dict())["confirm"] or (
            "confirm" in body and validated(ConfirmQuery, {"confirm": body["confirm"]})["confirm"]
        )
        schema.field_delete(actor=request.user, flow=found, field=field, confirm=confirm)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- tasks -------------------------------------------------------------------------------------


TASK_ERRORS = {401: MessageError, 403: MessageError, 404: MessageError, 413: TaskErrorShape, 422: TaskErrorShape}


class TaskApiView(ApiView):
    """Task data errors answer Flowdash's 422 {"errors": {...}}."""

    error_shapes = TASK_ERRORS
    input_status = status.HTTP_422_UNPROCESSABLE_ENTITY
    parse_status = status.HTTP_422_UNPROCESSABLE_ENTITY

    def handle_exception(self, exc):
        if isinstance(exc, TaskValidationError):
            return Response({"errors": exc.errors}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        if isinstance(exc, exceptions.ValidationError):
            return Response({"errors": flatten_errors(exc.detail)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        if isinstance(exc, ParseError):
            reason = f": {exc.reason}" if isinstance(exc, UnsafeJSONError) else ""
            return Response(
                {"errors": {"body": [f"must be valid JSON{reason}"]}}, status=status.HTTP_422_UNPROCESSABLE_ENTITY
            )
        if isinstance(exc, RequestDataTooBig):
            return Response({"errors": {"body": [TOO_LARGE]}}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        return super().handle_exception(exc)


class PagingQuery(serializers.Serializer):
    # A larger limit within 64 bits is served as the largest page (the API always did so).
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=INT64_MAX,
        help_text=f"Tasks per page, {DEFAULT_LIMIT} unless given; more than {MAX_LIMIT} is served as {MAX_LIMIT}.",
        error_messages=dict.fromkeys(
            ("invalid", "min_value", "max_value", "max_string_length"), f"must be a whole number from 1 to {MAX_LIMIT}"
        ),
    )
    # (page - 1) * limit is an SQL OFFSET, which must fit in 64 bits.
    page = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=PAGE_MAX,
        error_messages=dict.fromkeys(
            ("invalid", "min_value", "max_value", "max_string_length"), f"must be a whole number from 1 to {PAGE_MAX}"
        ),
    )


FILTERS = OpenApiParameter(
    "filters",
    {"type": "object", "additionalProperties": {"type": "string"}},
    OpenApiParameter.QUERY,
    style="form",
    explode=True,
    description=(
        "Filters named as the task JSON's keys (a field's name, Stage, Assigned To, Tags, id), "
        'case-insensitive: `?Stage=To%20Do`. An empty value means "has no value". A name that is not '
        "a field of the flow is a 422."
    ),
)


class FilterQuery(serializers.Serializer):
    # Text, as any query string is; the selector says which names are fields (a NUL is refused here:
    # PostgreSQL text cannot hold one).
    filters = serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False))


def _paging(params) -> tuple[int, int]:
    paging = validated(
        PagingQuery, {name: params[name] for name in PAGING_PARAMS if params.get(name) not in (None, "")}
    )
    return min(paging.get("limit", DEFAULT_LIMIT), MAX_LIMIT), paging.get("page", 1)


def _task_list_response(request, org: str, flow: str, *, active_only: bool) -> Response:
    found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
    params = request.query_params
    limit, page = _paging(params)
    filters = {name: params.get(name) for name in params if name not in PAGING_PARAMS}
    filters = validated(FilterQuery, {"filters": filters})["filters"]
    qs = selectors.task_list(flow=found, filters=filters, active_only=active_only)
    total = qs.count()
    start = (page - 1) * limit
    tasks = list(qs[start : start + limit])
    fields = schema.field_list(flow=found)
    tasks_json = [services.task_to_json(task=task, fields=fields, request=request) for task in tasks]
    return paged(Response(output(TaskObject, tasks_json, many=True)), request, page=page, limit=limit, total=total)


class TaskListApi(TaskApiView):
    InputSerializer = TaskObject
    OutputSerializer = TaskObject

    @extend_schema(parameters=[PagingQuery, FILTERS, *PAGE_HEADERS], responses=OutputSerializer(many=True))
    def get(self, request, org, flow):
        """Tasks of the flow, newest first."""
        return _task_list_response(request, org, flow, active_only=False)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            200: OpenApiResponse(OutputSerializer, description="Updated: the body named an existing task's key."),
        },
    )
    def post(self, request, org, flow):
        """Create a task, or update the one whose unique key the body names."""
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        data = validated(self.InputSerializer, request.data)
        # One read of the fields serves the validation and the answer.
        fields = services.flow_fields(flow=found)
        task, created = services.task_upsert(flow=found, actor=request.user, data=data, source="api", fields=fields)
        return Response(
            output(self.OutputSerializer, services.task_to_json(task=task, fields=fields, request=request)),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class TaskActiveListApi(TaskApiView):
    OutputSerializer = TaskObject

    @extend_schema(parameters=[PagingQuery, FILTERS, *PAGE_HEADERS], responses=OutputSerializer(many=True))
    def get(self, request, org, flow):
        """Tasks of the flow not in an end stage, newest first."""
        return _task_list_response(request, org, flow, active_only=True)


class TaskDetailApi(TaskApiView):
    InputSerializer = TaskObject
    OutputSerializer = TaskObject

    @extend_schema(responses=OutputSerializer)
    def get(self, request, org, flow, key):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        task = selectors.task_get_by_key(flow=found, key=key)
        return Response(output(self.OutputSerializer, services.task_to_json(task=task, request=request)))

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request, org, flow, key):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        task = selectors.task_get_by_key(flow=found, key=key)
        data = validated(self.InputSerializer, request.data)
        task = services.task_update(task=task, actor=request.user, data=data, source="api")
        return Response(output(self.OutputSerializer, services.task_to_json(task=task, request=request)))

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def patch(self, request, org, flow, key):
        """As PUT: only the keys sent change."""
        return self.put(request, org, flow, key)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, org, flow, key):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        task = selectors.task_get_by_key(flow=found, key=key)
        services.task_delete(task=task, actor=request.user, source="api")
        return Response(status=status.HTTP_204_NO_CONTENT)


def comment_json(comment) -> dict:
    author = comment.author
    return {
        "id": comment.pk,
        "body": comment.body,
        "author": {"id": author.pk, "email": author.email, "name": author.name} if author else None,
        "created_at": comment.created_at.isoformat().replace("+00:00", "Z"),
    }


class TaskCommentListApi(TaskApiView):
    InputSerializer = CommentIn
    OutputSerializer = CommentOut

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, org, flow, key):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        task = selectors.task_get_by_key(flow=found, key=key)
        comments = selectors.comment_list(task=task)
        return Response(output(self.OutputSerializer, [comment_json(c) for c in comments], many=True))

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, org, flow, key):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        task = selectors.task_get_by_key(flow=found, key=key)
        data = validated(self.InputSerializer, request.data)
        comment = services.comment_create(task=task, author=request.user, body=data["body"])
        return Response(output(self.OutputSerializer, comment_json(comment)), status=status.HTTP_201_CREATED)
