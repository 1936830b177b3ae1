"""Flowdock-compatible Organizations, Users and Flows API (seed 002). Thin views over services.

Each operation declares its input and output (nested `InputSerializer` / `OutputSerializer`); the input's
types and choices are checked there, the business rules in the services.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from flows import selectors, services
from flows.extensions import unread_mentions_by_flow
from flows.models import Flow
from flows.serializers import (
    FlowMemberOut,
    FlowOut,
    OrganizationDetailOut,
    OrganizationMemberOut,
    UserOut,
    flow_json,
    flow_member_json,
    organization_detail_json,
    organization_member_json,
    user_json,
)
from flowsite.api import (
    ApiView,
    InputSerializer,
    StrictBooleanField,
    StrictCharField,
    choice_field,
    name_field,
    output,
    validated,
)
from flowsite.bounds import ID_MAX
from flowsite.openapi import MessageError

NAME_MAX = services.NAME_MAX
NOT_CHANGEABLE = "This field cannot be changed."


class UsersQuery(serializers.Serializer):
    users = serializers.ChoiceField(
        choices=["0", "1", "true", "false"], required=False, help_text="1: include each flow's users."
    )


def _users_param(request) -> bool:
    return request.query_params.get("users") in ("1", "true")


def _unread_mentions(user, flow_ids) -> dict[str, int]:
    return unread_mentions_by_flow(user=user, flow_ids=flow_ids)


def _flow_list(request, flows) -> list:
    flows = list(flows)
    unread = _unread_mentions(request.user, [f.pk for f in flows])
    members: dict[str, list] = {}
    if _users_param(request):
        for m in selectors.FlowMembership.objects.filter(flow__in=flows).select_related("user").order_by("id"):
            members.setdefault(m.flow_id, []).append(m)
    return output(
        FlowOut,
        [
            flow_json(
                request,
                f,
                users=members.get(f.pk, []) if _users_param(request) else None,
                unread_mentions=unread.get(f.pk, 0),
            )
            for f in flows
        ],
        many=True,
    )


def _flow_detail(request, flow) -> dict:
    unread = _unread_mentions(request.user, [flow.pk])
    return output(
        FlowOut,
        flow_json(request, flow, users=list(selectors.flow_members(flow=flow)), unread_mentions=unread.get(flow.pk, 0)),
    )


NOT_FOUND = {404: MessageError}


class OrganizationListApi(ApiView):
    class InputSerializer(InputSerializer):
        name = name_field()

    OutputSerializer = OrganizationDetailOut

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        organizations = selectors.organization_list(user=request.user)
        return Response(
            output(self.OutputSerializer, [organization_detail_json(request, o) for o in organizations], many=True)
        )

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = validated(self.InputSerializer, request.data)
        organization = services.organization_create(user=request.user, name=data["name"])
        return Response(
            output(self.OutputSerializer, organization_detail_json(request, organization)),
            status=status.HTTP_201_CREATED,
        )


class OrganizationFindApi(ApiView):
    class InputSerializer(serializers.Serializer):
        id = serializers.IntegerField(min_value=1, max_value=ID_MAX, required=False)

    OutputSerializer = OrganizationDetailOut

    @extend_schema(parameters=[InputSerializer], responses={200: OutputSerializer, **NOT_FOUND})
    def get(self, request):
        organization = selectors.organization_get_by_id(
            user=request.user, organization_id=request.query_params.get("id")
        )
        return Response(output(self.OutputSerializer, organization_detail_json(request, organization)))


class OrganizationDetailApi(ApiView):
    class InputSerializer(InputSerializer):
        unknown_message = NOT_CHANGEABLE
        name = name_field(required=False, max_length=NAME_MAX)

    OutputSerializer = OrganizationDetailOut

    @extend_schema(responses=OutputSerializer)
    def get(self, request, org):
        organization = selectors.organization_get(user=request.user, slug=org)
        return Response(output(self.OutputSerializer, organization_detail_json(request, organization)))

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request, org):
        organization = selectors.organization_get(user=request.user, slug=org)
        data = validated(self.InputSerializer, request.data)
        organization = services.organization_update(actor=request.user, organization=organization, data=data)
        return Response(output(self.OutputSerializer, organization_detail_json(request, organization)))


class OrganizationUserListApi(ApiView):
    class InputSerializer(InputSerializer):
        email = name_field(max_length=254)
        admin = StrictBooleanField(required=False)

    OutputSerializer = OrganizationMemberOut

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, org):
        organization = selectors.organization_get(user=request.user, slug=org)
        members = selectors.organization_members(organization=organization)
        return Response(output(self.OutputSerializer, [organization_member_json(m) for m in members], many=True))

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, org):
        organization = selectors.organization_get(user=request.user, slug=org)
        data = validated(self.InputSerializer, request.data)
        membership = services.organization_add_user(
            actor=request.user, organization=organization, email=data["email"], admin=data.get("admin", False)
        )
        return Response(output(self.OutputSerializer, organization_member_json(membership)), status=201)


class OrganizationUserDetailApi(ApiView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, org, user_id):
        organization = selectors.organization_get(user=request.user, slug=org)
        services.organization_remove_user(actor=request.user, organization=organization, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserListApi(ApiView):
    OutputSerializer = UserOut

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        return Response(
            output(self.OutputSerializer, [user_json(u) for u in selectors.user_list(user=request.user)], many=True)
        )


class UserDetailApi(ApiView):
    class InputSerializer(InputSerializer):
        unknown_message = NOT_CHANGEABLE
        nick = StrictCharField(
            required=False,
            max_length=100,
            allow_blank=True,
            error_messages={"invalid": "Must be a string of at most 100 characters."},
        )
        email = serializers.EmailField(required=False, error_messages={"invalid": "Enter a valid email address."})
        first_name = StrictCharField(required=False, max_length=150, allow_blank=True)
        last_name = StrictCharField(required=False, max_length=150, allow_blank=True)
        status = StrictCharField(required=False, max_length=150, allow_blank=True, allow_null=True)
        avatar = StrictCharField(required=False, allow_blank=True, allow_null=True, help_text="Accepted and ignored.")

    OutputSerializer = UserOut

    @extend_schema(responses=OutputSerializer)
    def get(self, request, user_id):
        return Response(
            output(self.OutputSerializer, user_json(selectors.user_get(user=request.user, user_id=user_id)))
        )

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request, user_id):
        user = selectors.user_get(user=request.user, user_id=user_id)
        data = validated(self.InputSerializer, request.data)
        user = services.user_update(actor=request.user, user=user, data=data)
        return Response(output(self.OutputSerializer, user_json(user)))


class FlowListApi(ApiView):
    OutputSerializer = FlowOut

    @extend_schema(parameters=[UsersQuery], responses=OutputSerializer(many=True))
    def get(self, request):
        validated(UsersQuery, request.query_params.dict())
        return Response(_flow_list(request, selectors.flow_list_joined(user=request.user)))


class FlowAllApi(ApiView):
    OutputSerializer = FlowOut

    @extend_schema(parameters=[UsersQuery], responses=OutputSerializer(many=True))
    def get(self, request):
        validated(UsersQuery, request.query_params.dict())
        return Response(_flow_list(request, selectors.flow_list_all(user=request.user)))


class FlowFindApi(ApiView):
    class InputSerializer(serializers.Serializer):
        id = serializers.CharField(required=False, max_length=32)

    OutputSerializer = FlowOut

    @extend_schema(parameters=[InputSerializer], responses={200: OutputSerializer, **NOT_FOUND})
    def get(self, request):
        query = validated(self.InputSerializer, request.query_params.dict())
        flow = selectors.flow_get_by_id(user=request.user, flow_id=query.get("id"))
        return Response(_flow_detail(request, flow))


class FlowCreateApi(ApiView):
    class InputSerializer(InputSerializer):
        name = name_field()
        access_mode = choice_field(Flow.AccessMode.choices, required=False, allow_null=True)
        module = choice_field(Flow.Module.choices, required=False, allow_null=True, allow_blank=True)

    OutputSerializer = FlowOut

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, org):
        organization = selectors.organization_get(user=request.user, slug=org)
        data = validated(self.InputSerializer, request.data)
        flow = services.flow_create(
            user=request.user,
            organization=organization,
            name=data["name"],
            access_mode=data.get("access_mode"),
            module=data.get("module"),
        )
        flow = selectors.flow_get_by_id(user=request.user, flow_id=flow.pk)
        return Response(_flow_detail(request, flow), status=status.HTTP_201_CREATED)


class FlowDetailApi(ApiView):
    class InputSerializer(InputSerializer):
        unknown_message = NOT_CHANGEABLE
        name = name_field(required=False, max_length=NAME_MAX)
        open = StrictBooleanField(required=False, help_text="true joins an organization or link flow.")
        disabled = StrictBooleanField(required=False)
        access_mode = choice_field(Flow.AccessMode.choices, required=False)
        module = choice_field(Flow.Module.choices, required=False, allow_null=True, allow_blank=True)

    OutputSerializer = FlowOut

    @extend_schema(responses=OutputSerializer)
    def get(self, request, org, flow):
        return Response(_flow_detail(request, selectors.flow_get(user=request.user, org_slug=org, flow_slug=flow)))

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request, org, flow):
        found = selectors.flow_get(user=request.user, org_slug=org, flow_slug=flow)
        data = validated(self.InputSerializer, request.data)
        services.flow_update(actor=request.user, flow=found, data=data)
        found = selectors.flow_get_by_id(user=request.user, flow_id=found.pk)
        return Response(_flow_detail(request, found))


class FlowUserListApi(ApiView):
    class InputSerializer(InputSerializer):
        id = serializers.IntegerField(
            min_value=1,
            max_value=ID_MAX,
            error_messages=dict.fromkeys(
                ("invalid", "min_value", "max_value", "max_string_length"), "Must be a user id."
            ),
        )

    OutputSerializer = FlowMemberOut

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, org, flow):
        found = selectors.flow_get(user=request.user, org_slug=org, flow_slug=flow)
        members = selectors.flow_members(flow=found)
        return Response(output(self.OutputSerializer, [flow_member_json(m) for m in members], many=True))

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, org, flow):
        found = selectors.flow_get(user=request.user, org_slug=org, flow_slug=flow)
        data = validated(self.InputSerializer, request.data)
        membership = services.flow_add_user(actor=request.user, flow=found, user_id=data["id"])
        return Response(output(self.OutputSerializer, flow_member_json(membership)), status=status.HTTP_201_CREATED)


class FlowUserDetailApi(ApiView):
    class InputSerializer(InputSerializer):
        unknown_message = NOT_CHANGEABLE
        disabled = StrictBooleanField(required=False)
        can_edit = StrictBooleanField(required=False)

    OutputSerializer = FlowMemberOut

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request, org, flow, user_id):
        found = selectors.flow_get(user=request.user, org_slug=org, flow_slug=flow)
        data = validated(self.InputSerializer, request.data)
        membership = services.flow_update_user(actor=request.user, flow=found, user_id=user_id, data=data)
        return Response(output(self.OutputSerializer, flow_member_json(membership)))
