"""Workflows API (seed 003): exact paths, camelCase JSON. Admins write; members read."""

from rest_framework import status
from rest_framework.response import Response

from actions.engine import run_retry
from flows.selectors import organization_is_admin
from flowsite.api import ApiView, Forbidden, ServiceError, require_object
from flowsite.bounds import INT64_MAX, PAGE_MAX, PAGE_SIZE_MAX, bounded_int
from workflows import selectors, services
from workflows.serializers import workflow_json, workflow_run_json
from workflows.triggers import TRIGGERS

MAX_LIMIT = 100
assert MAX_LIMIT <= PAGE_SIZE_MAX  # so (page - 1) * limit, an SQL OFFSET, fits in 64 bits


class WorkflowListApi(ApiView):
    def get(self, request):
        module = request.query_params.get("module")
        if module and module not in TRIGGERS:
            raise ServiceError({"module": [f"Must be one of: {', '.join(TRIGGERS)}."]})
        workflows = selectors.workflow_list(
            user=request.user, module=module, organization=request.query_params.get("organization")
        )
        return Response([workflow_json(w) for w in workflows])

    def post(self, request):
        workflow = services.workflow_create(user=request.user, data=request.data)
        return Response(
            workflow_json(selectors.workflow_get(user=request.user, workflow_id=workflow.pk)),
            status=status.HTTP_201_CREATED,
        )


class WorkflowDetailApi(ApiView):
    def get(self, request, workflow_id):
        return Response(workflow_json(selectors.workflow_get(user=request.user, workflow_id=workflow_id)))

    def put(self, request, workflow_id):
        workflow = selectors.workflow_get(user=request.user, workflow_id=workflow_id)
        services.workflow_update(user=request.user, workflow=workflow, data=request.data)
        return Response(workflow_json(selectors.workflow_get(user=request.user, workflow_id=workflow_id)))

    def delete(self, request, workflow_id):
        workflow = selectors.workflow_get(user=request.user, workflow_id=workflow_id)
        services.workflow_delete(user=request.user, workflow=workflow)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WorkflowToggleApi(ApiView):
    def patch(self, request, workflow_id):
        workflow = selectors.workflow_get(user=request.user, workflow_id=workflow_id)
        # An empty body arrives as {}; a JSON null is a body, and not an object.
        services.workflow_toggle(user=request.user, workflow=workflow, data=require_object(request.data))
        return Response(workflow_json(selectors.workflow_get(user=request.user, workflow_id=workflow_id)))


def _positive_int(request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        # Within 64 bits a larger limit is served as the largest page; a page must keep the OFFSET in 64 bits.
        value = bounded_int(raw, minimum=1, maximum=INT64_MAX if maximum else PAGE_MAX)
    except ValueError:
        raise ServiceError({name: ["Must be a positive whole number."]})
    return min(value, maximum) if maximum else value


class WorkflowRunListApi(ApiView):
    def get(self, request, workflow_id):
        workflow = selectors.workflow_get(user=request.user, workflow_id=workflow_id)
        page = _positive_int(request, "page", 1)
        limit = _positive_int(request, "limit", 20, MAX_LIMIT)
        run_status = request.query_params.get("status") or None
        runs = selectors.workflow_runs(user=request.user, workflow=workflow, status=run_status)
        total = runs.count()
        items = runs[(page - 1) * limit : page * limit]
        return Response(
            {
                "data": [workflow_run_json(run) for run in items],
                "pagination": {"page": page, "limit": limit, "total": total, "totalPages": -(-total // limit)},
            }
        )


class WorkflowRunDetailApi(ApiView):
    def get(self, request, run_id):
        return Response(workflow_run_json(selectors.run_get_for_user(user=request.user, run_id=run_id), steps=True))


class WorkflowRunRetryApi(ApiView):
    def post(self, request, run_id):
        run = selectors.run_get_for_user(user=request.user, run_id=run_id)
        if not organization_is_admin(user=request.user, organization=run.flow.organization):
            raise Forbidden("Only organization admins can retry workflow runs.")
        run_retry(run=run, actor=request.user)
        return Response(workflow_run_json(selectors.run_get_for_user(user=request.user, run_id=run_id), steps=True))
