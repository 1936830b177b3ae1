"""The flow's schema API (stages, fields) and the Flowdash-style Task API, re-rooted under the flow.

Thin views: find the flow the caller works in (404 for everyone else), call a service, shape JSON.
Schema errors use Flowdock's 400 {"message", "errors"}; task data errors use Flowdash's
422 {"errors"}.
"""

from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response

from flows.selectors import flow_member_get
from flowsite.api import TOO_LARGE, ApiView, require_object
from flowsite.bounds import PAGE_MAX, PAGE_SIZE_MAX, bounded_int
from flowsite.jsonsafe import UnsafeJSONError
from tasks import schema, selectors, services
from tasks.values import TaskValidationError

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
assert MAX_LIMIT <= PAGE_SIZE_MAX  # so (page - 1) * limit, an SQL OFFSET, fits in 64 bits
PAGING_PARAMS = ("limit", "page")


def _truthy(value) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("1", "true", "yes"))


def _body_dict(request) -> dict:
    # DELETE bodies are optional; only an object counts.
    data = request.data
    return data if isinstance(data, dict) else {}


# --- schema ------------------------------------------------------------------------------------


class SchemaApiView(ApiView):
    def handle_exception(self, exc):
        if isinstance(exc, schema.ConfirmationRequired):
            return Response(
                {"message": "Validation error", "errors": exc.errors, "lost": exc.lost}, status=exc.status_code
            )
        return super().handle_exception(exc)


class StageListApi(SchemaApiView):
    def get(self, request, org, flow):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        return Response([schema.stage_json(stage) for stage in schema.stage_list(flow=found)])

    def post(self, request, org, flow):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        stage = schema.stage_create(actor=request.user, flow=found, data=require_object(request.data))
        return Response(schema.stage_json(stage), status=status.HTTP_201_CREATED)


class StageDetailApi(SchemaApiView):
    def put(self, request, org, flow, stage_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        stage = schema.stage_get(flow=found, stage_id=stage_id)
        stage = schema.stage_update(actor=request.user, flow=found, stage=stage, data=require_object(request.data))
        return Response(schema.stage_json(stage))

    def delete(self, request, org, flow, stage_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        stage = schema.stage_get(flow=found, stage_id=stage_id)
        move_to = request.query_params.get("move_to") or _body_dict(request).get("move_to")
        schema.stage_delete(actor=request.user, flow=found, stage=stage, move_to=move_to)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FieldListApi(SchemaApiView):
    def get(self, request, org, flow):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        return Response([schema.field_json(field) for field in schema.field_list(flow=found)])

    def post(self, request, org, flow):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        field = schema.field_create(actor=request.user, flow=found, data=require_object(request.data))
        return Response(schema.field_json(field), status=status.HTTP_201_CREATED)


class FieldDetailApi(SchemaApiView):
    def put(self, request, org, flow, field_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        field = schema.field_get(flow=found, field_id=field_id)
        data = dict(require_object(request.data))
        confirm = _truthy(request.query_params.get("confirm")) or _truthy(data.pop("confirm", False))
        field = schema.field_update(actor=request.user, flow=found, field=field, data=data, confirm=confirm)
        return Response(schema.field_json(field))

    def delete(self, request, org, flow, field_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        field = schema.field_get(flow=found, field_id=field_id)
        confirm = _truthy(request.query_params.get("confirm")) or _truthy(_body_dict(request).get("confirm"))
        schema.field_delete(actor=request.user, flow=found, field=field, confirm=confirm)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- tasks -------------------------------------------------------------------------------------


class TaskApiView(ApiView):
    """Task data errors answer Flowdash's 422 {"errors": {...}}."""

    def handle_exception(self, exc):
        if isinstance(exc, TaskValidationError):
            return Response({"errors": exc.errors}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        if isinstance(exc, ParseError):
            reason = f": {exc.reason}" if isinstance(exc, UnsafeJSONError) else ""
            return Response(
                {"errors": {"body": [f"must be valid JSON{reason}"]}}, status=status.HTTP_422_UNPROCESSABLE_ENTITY
            )
        if isinstance(exc, RequestDataTooBig):
            return Response({"errors": {"body": [TOO_LARGE]}}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        return super().handle_exception(exc)


def _paging(params) -> tuple[int, int]:
    errors = {}
    limit, page = DEFAULT_LIMIT, 1
    if params.get("limit") not in (None, ""):
        try:
            # A larger limit within 64 bits is served as the largest page (the API always did so).
            limit = min(bounded_int(params["limit"], minimum=1), MAX_LIMIT)
        except ValueError:
            errors["limit"] = [f"must be a whole number from 1 to {MAX_LIMIT}"]
    if params.get("page") not in (None, ""):
        try:
            page = bounded_int(params["page"], minimum=1, maximum=PAGE_MAX)
        except ValueError:
            errors["page"] = [f"must be a whole number from 1 to {PAGE_MAX}"]
    if errors:
        raise TaskValidationError(errors)
    return limit, page


def _page_link(request, page: int, rel: str) -> str:
    query = request.query_params.copy()
    query["page"] = str(page)
    # urlencode percent-encodes every value, so nothing a client sent can break the header.
    return f'<{request.build_absolute_uri(request.path)}?{query.urlencode()}>; rel="{rel}"'


def _task_list_response(request, org: str, flow: str, *, active_only: bool) -> Response:
    found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
    params = request.query_params
    limit, page = _paging(params)
    filters = {name: params.get(name) for name in params if name not in PAGING_PARAMS}
    qs = selectors.task_list(flow=found, filters=filters, active_only=active_only)
    total = qs.count()
    start = (page - 1) * limit
    tasks = list(qs[start : start + limit])
    fields = schema.field_list(flow=found)
    response = Response([services.task_to_json(task=task, fields=fields, request=request) for task in tasks])
    response["X-Total-Count"] = str(total)
    links = []
    if start + limit < total:
        links.append(_page_link(request, page + 1, "next"))
    if page > 1:
        links.append(_page_link(request, page - 1, "prev"))
    if links:
        response["Link"] = ", ".join(links)
    return response


class TaskListApi(TaskApiView):
    def get(self, request, org, flow):
        return _task_list_response(request, org, flow, active_only=False)

    def post(self, request, org, flow):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        # One read of the fields serves the validation and the answer.
        fields = services.flow_fields(flow=found)
        task, created = services.task_upsert(
            flow=found, actor=request.user, data=request.data, source="api", fields=fields
        )
        return Response(
            services.task_to_json(task=task, fields=fields, request=request),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class TaskActiveListApi(TaskApiView):
    def get(self, request, org, flow):
        return _task_list_response(request, org, flow, active_only=True)


class TaskDetailApi(TaskApiView):
    def get(self, request, org, flow, key):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        task = selectors.task_get_by_key(flow=found, key=key)
        return Response(services.task_to_json(task=task, request=request))

    def put(self, request, org, flow, key):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        task = selectors.task_get_by_key(flow=found, key=key)
        task = services.task_update(task=task, actor=request.user, data=request.data, source="api")
        return Response(services.task_to_json(task=task, request=request))

    def patch(self, request, org, flow, key):
        return self.put(request, org, flow, key)

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
    def get(self, request, org, flow, key):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        task = selectors.task_get_by_key(flow=found, key=key)
        return Response([comment_json(comment) for comment in selectors.comment_list(task=task)])

    def post(self, request, org, flow, key):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        task = selectors.task_get_by_key(flow=found, key=key)
        data = request.data
        if not isinstance(data, dict):
            raise TaskValidationError({"body": ["must be a JSON object"]})
        comment = services.comment_create(task=task, author=request.user, body=data.get("body"))
        return Response(comment_json(comment), status=status.HTTP_201_CREATED)
