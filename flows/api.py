"""Flowdock-compatible Organizations, Users and Flows API (seed 002). Thin views over services."""

from rest_framework import status
from rest_framework.response import Response

from flows import selectors, services
from flows.extensions import unread_mentions_by_flow
from flows.serializers import (
    flow_json,
    flow_member_json,
    organization_detail_json,
    organization_member_json,
    user_json,
)
from flowsite.api import ApiView, ServiceError, require_object


def _users_param(request) -> bool:
    return request.query_params.get("users") in ("1", "true")


def _unread_mentions(user, flow_ids) -> dict[str, int]:
    return unread_mentions_by_flow(user=user, flow_ids=flow_ids)


def _flow_list_response(request, flows) -> Response:
    flows = list(flows)
    unread = _unread_mentions(request.user, [f.pk for f in flows])
    members: dict[str, list] = {}
    if _users_param(request):
        for m in selectors.FlowMembership.objects.filter(flow__in=flows).select_related("user").order_by("id"):
            members.setdefault(m.flow_id, []).append(m)
    return Response(
        [
            flow_json(
                request,
                f,
                users=members.get(f.pk, []) if _users_param(request) else None,
                unread_mentions=unread.get(f.pk, 0),
            )
            for f in flows
        ]
    )


def _flow_detail(request, flow) -> dict:
    unread = _unread_mentions(request.user, [flow.pk])
    return flow_json(
        request, flow, users=list(selectors.flow_members(flow=flow)), unread_mentions=unread.get(flow.pk, 0)
    )


class OrganizationListApi(ApiView):
    def get(self, request):
        return Response([organization_detail_json(request, o) for o in selectors.organization_list(user=request.user)])

    def post(self, request):
        data = require_object(request.data)
        organization = services.organization_create(user=request.user, name=data.get("name"))
        return Response(organization_detail_json(request, organization), status=status.HTTP_201_CREATED)


class OrganizationFindApi(ApiView):
    def get(self, request):
        organization = selectors.organization_get_by_id(
            user=request.user, organization_id=request.query_params.get("id")
        )
        return Response(organization_detail_json(request, organization))


class OrganizationDetailApi(ApiView):
    def get(self, request, org):
        return Response(organization_detail_json(request, selectors.organization_get(user=request.user, slug=org)))

    def put(self, request, org):
        organization = selectors.organization_get(user=request.user, slug=org)
        organization = services.organization_update(
            actor=request.user, organization=organization, data=require_object(request.data)
        )
        return Response(organization_detail_json(request, organization))


class OrganizationUserListApi(ApiView):
    def get(self, request, org):
        organization = selectors.organization_get(user=request.user, slug=org)
        return Response(
            [organization_member_json(m) for m in selectors.organization_members(organization=organization)]
        )

    def post(self, request, org):
        organization = selectors.organization_get(user=request.user, slug=org)
        data = require_object(request.data)
        membership = services.organization_add_user(
            actor=request.user, organization=organization, email=data.get("email"), admin=data.get("admin", False)
        )
        return Response(organization_member_json(membership), status=status.HTTP_201_CREATED)


class OrganizationUserDetailApi(ApiView):
    def delete(self, request, org, user_id):
        organization = selectors.organization_get(user=request.user, slug=org)
        services.organization_remove_user(actor=request.user, organization=organization, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserListApi(ApiView):
    def get(self, request):
        return Response([user_json(u) for u in selectors.user_list(user=request.user)])


class UserDetailApi(ApiView):
    def get(self, request, user_id):
        return Response(user_json(selectors.user_get(user=request.user, user_id=user_id)))

    def put(self, request, user_id):
        user = selectors.user_get(user=request.user, user_id=user_id)
        user = services.user_update(actor=request.user, user=user, data=require_object(request.data))
        return Response(user_json(user))


class FlowListApi(ApiView):
    def get(self, request):
        return _flow_list_response(request, selectors.flow_list_joined(user=request.user))


class FlowAllApi(ApiView):
    def get(self, request):
        return _flow_list_response(request, selectors.flow_list_all(user=request.user))


class FlowFindApi(ApiView):
    def get(self, request):
        flow = selectors.flow_get_by_id(user=request.user, flow_id=request.query_params.get("id"))
        return Response(_flow_detail(request, flow))


class FlowCreateApi(ApiView):
    def post(self, request, org):
        organization = selectors.organization_get(user=request.user, slug=org)
        data = require_object(request.data)
        unknown = set(data) - {"name", "access_mode", "module"}
        if unknown:
            raise ServiceError({key: ["Unknown field."] for key in sorted(unknown)})
        flow = services.flow_create(
            user=request.user,
            organization=organization,
            name=data.get("name"),
            access_mode=data.get("access_mode"),
            module=data.get("module"),
        )
        flow = selectors.flow_get_by_id(user=request.user, flow_id=flow.pk)
        return Response(_flow_detail(request, flow), status=status.HTTP_201_CREATED)


class FlowDetailApi(ApiView):
    def get(self, request, org, flow):
        return Response(_flow_detail(request, selectors.flow_get(user=request.user, org_slug=org, flow_slug=flow)))

    def put(self, request, org, flow):
        found = selectors.flow_get(user=request.user, org_slug=org, flow_slug=flow)
        services.flow_update(actor=request.user, flow=found, data=dict(require_object(request.data)))
        found = selectors.flow_get_by_id(user=request.user, flow_id=found.pk)
        return Response(_flow_detail(request, found))


class FlowUserListApi(ApiView):
    def get(self, request, org, flow):
        found = selectors.flow_get(user=request.user, org_slug=org, flow_slug=flow)
        return Response([flow_member_json(m) for m in selectors.flow_members(flow=found)])

    def post(self, request, org, flow):
        found = selectors.flow_get(user=request.user, org_slug=org, flow_slug=flow)
        data = require_object(request.data)
        membership = services.flow_add_user(actor=request.user, flow=found, user_id=data.get("id"))
        return Response(flow_member_json(membership), status=status.HTTP_201_CREATED)


class FlowUserDetailApi(ApiView):
    def put(self, request, org, flow, user_id):
        found = selectors.flow_get(user=request.user, org_slug=org, flow_slug=flow)
        membership = services.flow_update_user(
            actor=request.user, flow=found, user_id=user_id, data=require_object(request.data)
        )
        return Response(flow_member_json(membership))
