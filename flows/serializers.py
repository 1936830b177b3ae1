"""JSON shapes of the Flowdock-compatible API (seed 002)."""

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from flows.models import Flow, FlowMembership, Organization, OrganizationMembership, User


def timestamp(value) -> int | None:
    # The seed shows user timestamps as 16-digit numbers (milliseconds * 1000).
    if value is None:
        return None
    return int(value.timestamp() * 1000) * 1000


def user_json(user: User, *, disabled: bool | None = None) -> dict[str, Any]:
    return {
        "id": user.pk,
        "nick": user.nick or user.get_short_name(),
        "name": user.name,
        "email": user.email,
        "avatar": user.avatar_url or None,
        "status": user.status,
        "disabled": user.disabled if disabled is None else disabled,
        "last_activity": timestamp(user.last_activity),
        "last_ping": timestamp(user.last_ping),
    }


def flow_member_json(membership: FlowMembership) -> dict[str, Any]:
    data = user_json(membership.user, disabled=membership.disabled or membership.user.disabled)
    data["can_edit"] = membership.can_edit
    return data


def organization_json(request, organization: Organization, *, user_count: int | None = None) -> dict[str, Any]:
    if user_count is None:
        user_count = getattr(organization, "user_count", None)
    if user_count is None:
        user_count = organization.memberships.count()
    return {
        "id": organization.pk,
        "name": organization.name,
        "parameterized_name": organization.parameterized_name,
        "user_limit": organization.user_limit,
        "user_count": user_count,
        "active": organization.active,
        "url": request.build_absolute_uri(reverse("api:organization", args=[organization.parameterized_name])),
    }


def organization_member_json(membership: OrganizationMembership) -> dict[str, Any]:
    data = user_json(membership.user)
    data["admin"] = membership.admin
    return data


def organization_detail_json(request, organization: Organization) -> dict[str, Any]:
    members = list(organization.memberships.select_related("user").order_by("id"))
    data = organization_json(request, organization, user_count=len(members))
    data["users"] = [{"id": m.user.pk, "name": m.user.name, "email": m.user.email, "admin": m.admin} for m in members]
    return data


def flow_json(
    request, flow: Flow, *, users: list[FlowMembership] | None = None, unread_mentions: int = 0
) -> dict[str, Any]:
    org = flow.organization
    org_slug, flow_slug = org.parameterized_name, flow.parameterized_name
    data: dict[str, Any] = {
        "id": flow.pk,
        "name": flow.name,
        "parameterized_name": flow_slug,
        "organization": organization_json(request, org, user_count=getattr(flow, "organization_user_count", None)),
        "unread_mentions": unread_mentions,
        "open": bool(getattr(flow, "is_open", False)),
        "joined": bool(getattr(flow, "joined", False)),
        "url": request.build_absolute_uri(reverse("api:flow", args=[org_slug, flow_slug])),
        "web_url": request.build_absolute_uri(reverse("flow_board", args=[org_slug, flow_slug])),
        "access_mode": flow.access_mode,
        "disabled": flow.disabled,
        "module": flow.module or None,
    }
    if flow.access_mode in (Flow.AccessMode.LINK, Flow.AccessMode.ORGANIZATION):
        data["join_url"] = request.build_absolute_uri(reverse("flow_join", args=[f"{flow.join_token}-{flow_slug}"]))
    if users is not None:
        data["users"] = [flow_member_json(m) for m in users]
    return data


# --- the same shapes, declared for DRF and the OpenAPI document -------------------------------
# The *_json functions above build the values; these declare them, and every API answer goes through
# one (flowsite.api.output), so the document and the answers cannot drift apart.


class UserOut(serializers.Serializer):
    id = serializers.IntegerField()
    nick = serializers.CharField()
    name = serializers.CharField()
    email = serializers.EmailField()
    avatar = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True)
    disabled = serializers.BooleanField()
    last_activity = serializers.IntegerField(allow_null=True, help_text="Microseconds since the epoch.")
    last_ping = serializers.IntegerField(allow_null=True, help_text="Microseconds since the epoch.")


class FlowMemberOut(UserOut):
    can_edit = serializers.BooleanField()


class OrganizationMemberOut(UserOut):
    admin = serializers.BooleanField()


class OrganizationOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    parameterized_name = serializers.CharField()
    user_limit = serializers.IntegerField(help_text="0 means no limit.")
    user_count = serializers.IntegerField()
    active = serializers.BooleanField()
    url = serializers.URLField()


class OrganizationUserOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()
    admin = serializers.BooleanField()


class OrganizationDetailOut(OrganizationOut):
    users = OrganizationUserOut(many=True)


class FlowOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    parameterized_name = serializers.CharField()
    organization = OrganizationOut()
    unread_mentions = serializers.IntegerField()
    open = serializers.BooleanField()
    joined = serializers.BooleanField()
    url = serializers.URLField()
    web_url = serializers.URLField()
    join_url = serializers.URLField(required=False, help_text="Only when access_mode is organization or link.")
    access_mode = serializers.ChoiceField(choices=Flow.AccessMode.choices)
    disabled = serializers.BooleanField()
    module = serializers.ChoiceField(choices=Flow.Module.choices, allow_null=True)
    users = FlowMemberOut(many=True, required=False, help_text="With ?users=1, and on a single flow.")
