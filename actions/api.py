"""Actions API and the Flowdash-style execution API, under the flow."""

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response

from actions import selectors, services
from actions.serializers import PUBLIC_STATUS, action_json, run_json
from flows.models import User
from flows.selectors import flow_member_get
from flowsite.api import TOO_LARGE, ApiView
from flowsite.bounds import ID_MAX, INT64_MAX, PAGE_MAX, PAGE_SIZE_MAX, bounded_int
from tasks.selectors import task_get_by_key


class ActionListApi(ApiView):
    def get(self, request, org, flow):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        return Response([action_json(a) for a in selectors.action_list(flow=found)])

    def post(self, request, org, flow):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        action = services.action_create(flow=found, actor=request.user, data=request.data)
        return Response(action_json(selectors.action_get(flow=found, action_id=action.pk)), status=201)


class ActionDetailApi(ApiView):
    def get(self, request, org, flow, action_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        return Response(action_json(selectors.action_get(flow=found, action_id=action_id)))

    def put(self, request, org, flow, action_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        action = selectors.action_get(flow=found, action_id=action_id)
        services.action_update(action=action, actor=request.user, data=request.data)
        return Response(action_json(selectors.action_get(flow=found, action_id=action_id)))

    def delete(self, request, org, flow, action_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        services.action_delete(action=selectors.action_get(flow=found, action_id=action_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaskActionsApi(ApiView):
    """GET /tasks/:key/actions: the actions available to the task now."""

    def get(self, request, org, flow, key):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        task = task_get_by_key(flow=found, key=key)
        return Response([{"id": a.pk, "name": a.name} for a in selectors.actions_available(flow=found, task=task)])


def _fail(errors: list[str], code: int = 422) -> Response:
    return Response({"status": "Fail", "errors": errors}, status=code)


def _page_link(request, page: int, rel: str) -> str:
    query = request.query_params.copy()
    query["page"] = str(page)
    return f'<{request.build_absolute_uri(request.path)}?{query.urlencode()}>; rel="{rel}"'


EXECUTIONS_LIMIT = 20
EXECUTIONS_MAX_LIMIT = 100
assert EXECUTIONS_MAX_LIMIT <= PAGE_SIZE_MAX  # so (page - 1) * limit, an SQL OFFSET, fits in 64 bits
# ?status= takes Flowdash's public statuses (Pending, Success, Fail), any case.
STATUS_FILTER = {
    public.lower(): [state for state, shown in PUBLIC_STATUS.items() if shown == public]
    for public in dict.fromkeys(PUBLIC_STATUS.values())
}


def _whole(params, name: str, default: int, errors: list[str], *, maximum: int, cap: int | None = None) -> int:
    """A whole number from the query, from 1 to `maximum` (a page is bounded so that its SQL OFFSET fits
    in 64 bits); a page size above `cap` is capped, as in the Task API."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = bounded_int(raw, minimum=1, maximum=maximum)
    except ValueError:
        errors.append(f"{name} must be a whole number from 1" + (f" to {cap}" if cap else ""))
        return default
    return min(value, cap) if cap else value


class ExecutionListApi(ApiView):
    def handle_exception(self, exc):
        # The execution API's own shape for a body it cannot read, like its other errors.
        if isinstance(exc, ParseError):
            return _fail([str(exc.detail)], status.HTTP_400_BAD_REQUEST)
        if isinstance(exc, RequestDataTooBig):
            return _fail([TOO_LARGE], status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        return super().handle_exception(exc)

    def get(self, request, org, flow):
        """The flow's executions, newest first: ?task_id= (the task's key), ?action_id=, ?status=,
        paged with ?limit= and ?page= like the Task API (X-Total-Count, Link)."""
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        params = request.query_params
        errors: list[str] = []
        limit = _whole(params, "limit", EXECUTIONS_LIMIT, errors, maximum=INT64_MAX, cap=EXECUTIONS_MAX_LIMIT)
        page = _whole(params, "page", 1, errors, maximum=PAGE_MAX)
        statuses = None
        if params.get("status") not in (None, ""):
            statuses = STATUS_FILTER.get(params["status"].strip().lower())
            if statuses is None:
                errors.append("status must be one of Pending, Success, Fail")
        action_id = None
        if params.get("action_id") not in (None, ""):
            action_id = _whole(params, "action_id", 0, errors, maximum=ID_MAX)
        if errors:
            return _fail(errors)
        task_ref = None
        if params.get("task_id") not in (None, ""):
            try:
                task_ref = task_get_by_key(flow=found, key=params["task_id"]).pk
            except Http404:
                return _fail([f"No task {params['task_id']} in this flow."], 404)
        runs = selectors.run_list(
            user=request.user, flow=found, task_ref=task_ref, action_id=action_id, statuses=statuses
        ).prefetch_related("step_runs")
        total = runs.count()
        start = (page - 1) * limit
        response = Response([run_json(run) for run in runs[start : start + limit]])
        response["X-Total-Count"] = str(total)
        links = []
        if start + limit < total:
            links.append(_page_link(request, page + 1, "next"))
        if page > 1:
            links.append(_page_link(request, page - 1, "prev"))
        if links:
            response["Link"] = ", ".join(links)
        return response

    def post(self, request, org, flow):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        data = request.data
        if not isinstance(data, dict):
            return _fail(["The body must be a JSON object."])
        errors = [f"{name} is required" for name in ("task_id", "action_id") if data.get(name) in (None, "")]
        if errors:
            return _fail(errors)
        try:
            task = task_get_by_key(flow=found, key=str(data["task_id"]))
        except Http404:
            return _fail([f"No task {data['task_id']} in this flow."], 404)
        try:
            action = selectors.action_get(flow=found, action_id=data["action_id"])
        except Http404:
            return _fail([f"No action {data['action_id']} in this flow."], 404)
        performed_by = None
        if data.get("performed_by") not in (None, ""):
            if not isinstance(data["performed_by"], str):
                return _fail(["performed_by must be an email."])
            performed_by = User.objects.filter(email__iexact=data["performed_by"].strip()).first()
            if performed_by is None:
                return _fail([f"No user {data['performed_by']}."])
        try:
            run = services.action_perform(action=action, task=task, actor=request.user, performed_by=performed_by)
        except services.ActionUnavailable as exc:
            return _fail(exc.errors)
        return Response({"id": run.pk, "status": "Pending"}, status=status.HTTP_201_CREATED)


class ExecutionDetailApi(ApiView):
    def get(self, request, org, flow, run_id):
        found = flow_member_get(user=request.user, org_slug=org, flow_slug=flow)
        return Response(run_json(selectors.run_get(flow=found, run_id=run_id)))
