"""Reads for people, organizations and flows, scoped to what the caller may see.

Anything outside that scope is "not found", so nobody learns that it exists.
"""

import copy
import random
import threading
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404
from rest_framework.authtoken.models import Token

from flows.models import CacheVersion, Field, Flow, FlowMembership, Organization, OrganizationMembership, Stage, User
from flowsite.authentication import token_read
from flowsite.bounds import id_or_none


def organization_list(*, user: User) -> QuerySet[Organization]:
    return (
        Organization.objects.filter(memberships__user=user)
        .annotate(user_count=Count("memberships", distinct=True))
        .order_by("name", "id")
    )


def organization_get(*, user: User, slug: str) -> Organization:
    organization = organization_list(user=user).filter(parameterized_name=slug).first()
    if organization is None:
        raise Http404
    return organization


def organization_get_by_id(*, user: User, organization_id) -> Organization:
    organization_id = id_or_none(organization_id)
    if organization_id is None:
        raise Http404
    organization = organization_list(user=user).filter(pk=organization_id).first()
    if organization is None:
        raise Http404
    return organization


def organization_is_admin(*, user: User, organization: Organization) -> bool:
    return OrganizationMembership.objects.filter(organization=organization, user=user, admin=True).exists()


def organization_members(*, organization: Organization) -> QuerySet[OrganizationMembership]:
    return organization.memberships.select_related("user").order_by("id")


def flow_queryset() -> QuerySet[Flow]:
    return Flow.objects.select_related("organization").annotate(
        organization_user_count=Count("organization__memberships", distinct=True)
    )


def flow_annotate_for(qs: QuerySet[Flow], *, user: User) -> QuerySet[Flow]:
    membership = FlowMembership.objects.filter(flow=OuterRef("pk"), user=user, disabled=False)
    return qs.annotate(
        joined=Exists(membership),
        is_open=Exists(membership.filter(open=True)),
    )


def _visible_ids(user: User) -> QuerySet:
    admin_orgs = OrganizationMembership.objects.filter(user=user, admin=True).values("organization_id")
    member_orgs = OrganizationMembership.objects.filter(user=user).values("organization_id")
    member_flows = FlowMembership.objects.filter(user=user, disabled=False).values("flow_id")
    blocked_flows = FlowMembership.objects.filter(user=user, disabled=True).values("flow_id")
    return Flow.objects.filter(
        Q(organization_id__in=admin_orgs)
        | (
            Q(disabled=False)
            & ~Q(pk__in=blocked_flows)
            & (
                Q(pk__in=member_flows)
                # A link-mode flow is found by its link only (flow_by_join_token), never by browsing.
                | Q(organization_id__in=member_orgs, access_mode=Flow.AccessMode.ORGANIZATION)
            )
        )
    ).values("pk")


def flow_list_joined(*, user: User) -> QuerySet[Flow]:
    """GET /flows: flows the person is a member of (joined), not disabled."""
    qs = flow_queryset().filter(
        disabled=False,
        pk__in=FlowMembership.objects.filter(user=user, disabled=False).values("flow_id"),
    )
    return flow_annotate_for(qs, user=user).order_by("organization__name", "name", "id")


def flow_list_all(*, user: User) -> QuerySet[Flow]:
    """GET /flows/all: joined flows plus organization flows the person may join."""
    member_orgs = OrganizationMembership.objects.filter(user=user).values("organization_id")
    blocked = FlowMembership.objects.filter(user=user, disabled=True).values("flow_id")
    qs = (
        flow_queryset()
        .filter(
            Q(pk__in=FlowMembership.objects.filter(user=user, disabled=False).values("flow_id"))
            | Q(organization_id__in=member_orgs, access_mode=Flow.AccessMode.ORGANIZATION),
            disabled=False,
        )
        .exclude(pk__in=blocked)
    )
    return flow_annotate_for(qs, user=user).order_by("organization__name", "name", "id")


def flow_visible(*, user: User) -> QuerySet[Flow]:
    return flow_annotate_for(flow_queryset().filter(pk__in=_visible_ids(user)), user=user)


def flow_get(*, user: User, org_slug: str, flow_slug: str) -> Flow:
    flow = (
        flow_visible(user=user).filter(organization__parameterized_name=org_slug, parameterized_name=flow_slug).first()
    )
    if flow is None:
        raise Http404
    return flow


def flow_get_by_id(*, user: User, flow_id: str) -> Flow:
    flow = flow_visible(user=user).filter(pk=str(flow_id or "")).first()
    if flow is None:
        raise Http404
    return flow


def flow_members(*, flow: Flow) -> QuerySet[FlowMembership]:
    return flow.memberships.select_related("user").order_by("id")


def flow_membership(*, flow: Flow, user: User) -> FlowMembership | None:
    return FlowMembership.objects.filter(flow=flow, user=user).first()


def flow_is_member(*, flow: Flow, user: User) -> bool:
    return FlowMembership.objects.filter(flow=flow, user=user, disabled=False).exists()


def flow_can_edit(*, flow: Flow, user: User) -> bool:
    """Designing a flow: organization admins and the members they allow."""
    if organization_is_admin(user=user, organization=flow.organization):
        return True
    return FlowMembership.objects.filter(flow=flow, user=user, disabled=False, can_edit=True).exists()


def flow_readable_ids(*, user: User) -> QuerySet:
    """Who may read a flow's tasks, as the ids of those flows (a subquery: `flow_id__in=`).

    The one rule for task data and everything copied from it (runs and their step records,
    executions, notifications, mentions, comments, history, counts): an organization admin reads
    every flow of the organization, disabled or not; anyone else reads the flows they are an
    active member of while the flow is enabled. Merely belonging to the organization is not
    enough (an organization-mode flow is read once joined), and a blocked membership
    (`disabled`) reads nothing. Everyone else, the anonymous included, reads no flow."""
    if user is None or not user.is_authenticated:
        return Flow.objects.none().values("pk")
    admin_orgs = OrganizationMembership.objects.filter(user=user, admin=True).values("organization_id")
    member_flows = FlowMembership.objects.filter(user=user, disabled=False).values("flow_id")
    return Flow.objects.filter(Q(organization_id__in=admin_orgs) | Q(pk__in=member_flows, disabled=False)).values("pk")


def flow_can_read(*, user: User, flow: Flow) -> bool:
    return flow_readable_ids(user=user).filter(pk=flow.pk).exists()


def flow_member_get(*, user: User, org_slug: str, flow_slug: str) -> Flow:
    """A flow whose tasks the caller may read (flow_readable_ids): what working in a flow needs.

    On every Task API request: kept per process under the access version (version_cached), so
    mostly one read of that version; anyone else gets "not found". Nothing that works in a flow
    shows whether its tab is open, so unlike flow_annotate_for there is no is_open."""
    flow = version_cached(
        CacheVersion.ACCESS,
        ("flow", user.pk, org_slug, flow_slug),
        lambda: (
            Flow.objects.select_related("organization")
            .filter(
                organization__parameterized_name=org_slug,
                parameterized_name=flow_slug,
                pk__in=flow_readable_ids(user=user),
            )
            .first()
        ),
    )
    if flow is None:
        raise Http404
    clone = copy.copy(flow)  # the cached row is shared by every request of the process
    clone.organization = copy.copy(flow.organization)
    # Current: the access version covers every write to the flow's row, its schema_version too.
    return flow_read_now(clone)


# --- reads cached per process under a version the database replaces -------------------------------

VERSION_CACHE_MAX = 5000
_version_cache: dict[tuple, tuple[int, Any]] = {}


def cache_version(version_id: int) -> int | None:
    """A CacheVersion's value: a trigger replaces it in the transaction of every write to the
    tables it covers (flows.triggers). None when its row is missing (a test database just
    flushed): then nothing is served from the cache."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT value FROM {CacheVersion._meta.db_table} WHERE id = %s", [version_id])
        row = cursor.fetchone()
    if row is None:
        # With a value no process has cached anything under.
        CacheVersion.objects.get_or_create(pk=version_id, defaults={"value": random.getrandbits(62)})
        return None
    return row[0]


def version_cached(version_id: int, key: tuple, load: Callable[[], Any]) -> Any:
    """`load()` kept per process under a CacheVersion, read afresh on every call: for the access
    version, a revoked token, a removed member or a disabled flow is refused on the very next
    request, in every process; for the workflows version, a workflow changed is matched as changed
    by the next dispatch. Callers hand out copies."""
    remembered = getattr(_request, "remembered", None)
    version = remembered.pop(version_id, None) if remembered else None
    if version is None:
        version = cache_version(version_id)
    return _cached_under(version_id, version, key, load)


def _cached_under(version_id: int, version: int | None, key: tuple, load: Callable[[], Any]) -> Any:
    key = (version_id, *key)
    hit = _version_cache.get(key)
    if version is not None and hit is not None and hit[0] == version:
        return hit[1]
    value = load()
    if version is not None:
        if len(_version_cache) >= VERSION_CACHE_MAX:
            _version_cache.clear()  # crude, but bounded; a miss costs one read
        _version_cache[key] = (version, value)
    return value


# The access version the token's lookup read, kept for the one access check that follows it in the
# same request (the flow's, on every Task API request): one read of the version a request, not two.
# Kept for that one use only, so a later check (after the request has written anything) reads
# afresh; and forgotten when a request starts and ends (access_version_forget), so no request uses
# another's. Per thread: a web process serves a request per thread.
_request = threading.local()


def access_version_forget(**kwargs) -> None:
    """Connected to request_started and request_finished (FlowsConfig.ready())."""
    _request.remembered = {}


def token_cached(key: str) -> Token | None:
    """flowsite.authentication's token lookup (registered in FlowsConfig.ready()), cached: a copy of
    the token and its user. Unknown keys are not kept (anyone can make up as many as they like)."""
    version = cache_version(CacheVersion.ACCESS)
    token = _cached_under(CacheVersion.ACCESS, version, ("token", key), lambda: token_read(key))
    if token is None:
        _version_cache.pop((CacheVersion.ACCESS, "token", key), None)
        return None
    if version is not None:
        _request.remembered = {CacheVersion.ACCESS: version}
    clone = copy.copy(token)
    clone.user = copy.copy(token.user)
    return clone


# --- the flow's schema, cached per process -------------------------------------------------------

SCHEMA_CACHE_MAX = 2000
_schema_cache: dict[tuple[str, str], tuple[int, Any]] = {}


def flow_read_now(flow: Flow) -> Flow:
    """Mark a Flow row read from the database just now: its schema_version names the current schema,
    so flow_schema_cached may serve its fields and first stage. (A row kept from earlier may carry a
    version replaced since; flow_schema_bump unmarks the rows it changes.)"""
    flow.schema_is_current = True
    return flow


def flow_schema_cached(*, flow: Flow, part: str, load: Callable[[], Any]) -> Any:
    """`load()` — a read of the flow's fields or stages — kept per process
    under the flow's schema_version, which every change to them replaces (flow_schema_bump).

    Only for a Flow row read just now (flow_read_now marks it): a row read earlier may
    carry a version that has been replaced since, and then the schema is read as before. Callers
    hand out copies: cached objects are shared by every request of the process."""
    if not getattr(flow, "schema_is_current", False):
        return load()
    key = (flow.pk, part)
    hit = _schema_cache.get(key)
    if hit is not None and hit[0] == flow.schema_version:
        return hit[1]
    value = load()
    if len(_schema_cache) >= SCHEMA_CACHE_MAX:
        _schema_cache.clear()  # crude, but bounded; a miss costs one read
    _schema_cache[key] = (flow.schema_version, value)
    return value


def _field_copy(field: Field) -> Field:
    clone = copy.copy(field)
    clone.options = copy.deepcopy(field.options)
    return clone


def flow_fields(*, flow: Flow) -> list[Field]:
    """The flow's fields in order (their next_value is not for use: a uniqueId is numbered under a lock)."""
    fields = flow_schema_cached(
        flow=flow, part="fields", load=lambda: list(Field.objects.filter(flow=flow).order_by("position", "id"))
    )
    return [_field_copy(field) for field in fields]


def flow_first_stage(*, flow: Flow) -> Stage | None:
    """Where a new task starts when it names no stage."""
    stage = flow_schema_cached(
        flow=flow, part="first_stage", load=lambda: Stage.objects.filter(flow=flow).order_by("position", "id").first()
    )
    return copy.copy(stage)


def user_list(*, user: User) -> QuerySet[User]:
    """Admins see everyone in the organizations they administer; everyone sees the people
    they share a flow with, and themselves."""
    admin_orgs = OrganizationMembership.objects.filter(user=user, admin=True).values("organization_id")
    my_flows = FlowMembership.objects.filter(user=user, disabled=False).values("flow_id")
    return (
        User.objects.filter(
            Q(pk=user.pk)
            | Q(organization_memberships__organization_id__in=admin_orgs)
            | Q(flow_memberships__flow_id__in=my_flows)
        )
        .distinct()
        .order_by("id")
    )


def user_get(*, user: User, user_id) -> User:
    user_id = id_or_none(user_id)
    if user_id is None:
        raise Http404
    found = user_list(user=user).filter(pk=user_id).first()
    if found is None:
        raise Http404
    return found


def flow_by_join_token(*, user: User, token: str) -> Flow | None:
    """The enabled flow a join link names, if the person may join it by the link: a link-mode flow
    admits whoever holds the link (as Flowdock did); an organization-mode flow only members of its
    organization; an invitation-only flow nobody."""
    member_orgs = OrganizationMembership.objects.filter(user=user).values("organization_id")
    return (
        Flow.objects.select_related("organization")
        .filter(join_token=token, disabled=False)
        .filter(
            Q(access_mode=Flow.AccessMode.LINK)
            | Q(access_mode=Flow.AccessMode.ORGANIZATION, organization_id__in=member_orgs)
        )
        .first()
    )
