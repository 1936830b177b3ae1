"""Business rules for people, organizations and flows."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.text import slugify

from flows.models import (
    Flow,
    FlowMembership,
    Organization,
    OrganizationMembership,
    Stage,
    User,
    new_schema_version,
    new_signing_secret,
)
from flows.selectors import flow_can_edit, organization_is_admin
from flowsite.api import Forbidden, ServiceError
from flowsite.bounds import id_or_none

NAME_MAX = 100


def _clean_name(name, *, field: str = "name", max_length: int = NAME_MAX) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ServiceError({field: ["This field is required."]})
    name = name.strip()
    if len(name) > max_length:
        raise ServiceError({field: [f"Ensure this field has no more than {max_length} characters."]})
    return name


# Words the API uses as paths beside organization and flow names.
RESERVED_SLUGS = {"all", "find", "new"}


def _unique_slug(base: str, taken) -> str:
    base = slugify(base)[:100] or "flow"
    slug, n = base, 2
    while slug in RESERVED_SLUGS or taken(slug):
        slug = f"{base}-{n}"
        n += 1
    return slug


def user_create(*, email: str, password: str, first_name: str = "", last_name: str = "", nick: str = "") -> User:
    email = (email or "").strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ServiceError({"email": ["A user with this email already exists."]})
    return User.objects.create_user(
        email=email, password=password, first_name=first_name, last_name=last_name, nick=nick or first_name
    )


def user_update(*, actor: User, user: User, data: dict) -> User:
    if actor.pk != user.pk:
        raise Forbidden("You can only change your own profile.")
    errors: dict[str, list[str]] = {}
    unknown = set(data) - {"nick", "email", "first_name", "last_name", "status", "avatar"}
    for key in sorted(unknown):
        errors[key] = ["This field cannot be changed."]
    if "nick" in data:
        nick = data["nick"]
        if not isinstance(nick, str) or len(nick) > 100:
            errors["nick"] = ["Must be a string of at most 100 characters."]
    if "email" in data:
        email = data["email"]

        try:
            if not isinstance(email, str):
                raise ValidationError("invalid")
            validate_email(email)
        except ValidationError:
            errors["email"] = ["Enter a valid email address."]
        else:
            if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
                errors["email"] = ["A user with this email already exists."]
    for key in ("first_name", "last_name"):
        # Stored NOT NULL: null is refused like any other non-string, not passed on to the database.
        if key in data and (not isinstance(data[key], str) or len(data[key]) > 150):
            errors[key] = ["Must be a string of at most 150 characters."]
    if (
        "status" in data
        and data["status"] is not None
        and (not isinstance(data["status"], str) or len(data["status"]) > 150)
    ):
        errors["status"] = ["Must be a string of at most 150 characters, or null."]
    if errors:
        raise ServiceError(errors)
    if "nick" in data:
        user.nick = data["nick"].strip()
    if "email" in data:
        user.email = data["email"].strip().lower()
    for key in ("first_name", "last_name", "status"):
        if key in data:
            setattr(user, key, data[key])
    user.save()
    return user


def user_touch(*, user: User) -> None:
    """Record activity for Flowdock's `last_activity`/`last_ping`, at most once a minute."""
    now = timezone.now()
    if user.last_ping and (now - user.last_ping).total_seconds() < 60:
        return
    User.objects.filter(pk=user.pk).update(last_activity=now, last_ping=now)


def organization_create(*, user: User, name) -> Organization:
    name = _clean_name(name)
    with transaction.atomic():
        slug = _unique_slug(name, lambda s: Organization.objects.filter(parameterized_name=s).exists())
        organization = Organization.objects.create(name=name, parameterized_name=slug)
        OrganizationMembership.objects.create(organization=organization, user=user, admin=True)
    return organization


def _require_admin(user: User, organization: Organization) -> None:
    if not organization_is_admin(user=user, organization=organization):
        raise Forbidden("Only organization admins can do this.")


def organization_update(*, actor: User, organization: Organization, data: dict) -> Organization:
    _require_admin(actor, organization)
    unknown = set(data) - {"name"}
    if unknown:
        raise ServiceError({key: ["This field cannot be changed."] for key in sorted(unknown)})
    if "name" in data:
        organization.name = _clean_name(data["name"])
    organization.save()
    return organization


def organization_add_user(*, actor: User, organization: Organization, email, admin=False) -> OrganizationMembership:
    _require_admin(actor, organization)
    if not isinstance(admin, bool):
        raise ServiceError({"admin": ["Must be a boolean."]})
    if not isinstance(email, str) or not email.strip():
        raise ServiceError({"email": ["This field is required."]})
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise ServiceError({"email": ["No user has this email."]})
    if organization.user_limit and organization.memberships.count() >= organization.user_limit:
        raise ServiceError({"email": ["The organization has reached its user limit."]})
    membership, created = OrganizationMembership.objects.get_or_create(
        organization=organization, user=user, defaults={"admin": admin}
    )
    if not created:
        raise ServiceError({"email": ["This person is already a member."]})
    return membership


def organization_remove_user(*, actor: User, organization: Organization, user_id) -> None:
    _require_admin(actor, organization)
    with transaction.atomic():
        membership = (
            OrganizationMembership.objects.select_for_update()
            .filter(organization=organization, user_id=user_id)
            .first()
        )
        if membership is None:
            raise Http404
        if membership.admin and not organization.memberships.filter(admin=True).exclude(pk=membership.pk).exists():
            raise ServiceError({"id": ["An organization needs at least one admin."]})
        # Leaving the organization means leaving its flows too.
        FlowMembership.objects.filter(flow__organization=organization, user_id=user_id).delete()
        membership.delete()


def flow_create(*, user: User, organization: Organization, name, access_mode=None, module=None) -> Flow:
    name = _clean_name(name)
    errors = {}
    if access_mode is not None and access_mode not in Flow.AccessMode.values:
        errors["access_mode"] = [f"Must be one of: {', '.join(Flow.AccessMode.values)}."]
    elif access_mode not in (None, Flow.AccessMode.INVITATION) and not organization_is_admin(
        user=user, organization=organization
    ):
        raise Forbidden("Only organization admins can change the access mode.")
    if module not in (None, "") and module not in Flow.Module.values:
        errors["module"] = [f"Must be one of: {', '.join(Flow.Module.values)}."]
    if errors:
        raise ServiceError(errors)
    with transaction.atomic():
        slug = _unique_slug(
            name, lambda s: Flow.objects.filter(organization=organization, parameterized_name=s).exists()
        )
        flow = Flow.objects.create(
            organization=organization,
            name=name,
            parameterized_name=slug,
            access_mode=access_mode or Flow.AccessMode.INVITATION,
            module=module or "",
            created_by=user,
        )
        FlowMembership.objects.create(flow=flow, user=user, can_edit=True)
        # A flow is useless without stages; start with the common three, editable later.
        Stage.objects.bulk_create(
            [
                Stage(flow=flow, name="To Do", position=0, color="#64748b"),
                Stage(flow=flow, name="In Progress", position=1, color="#2563eb"),
                Stage(flow=flow, name="Done", position=2, color="#16a34a", end_stage=True),
            ]
        )
    return flow


def flow_update(*, actor: User, flow: Flow, data: dict) -> Flow:
    """PUT /flows/:org/:flow. Members rename; admins change access mode and disabled;
    `open: true` joins an organization flow the caller may see (a link flow is joined by its link)."""
    allowed = {"name", "open", "disabled", "access_mode", "module"}
    unknown = set(data) - allowed
    if unknown:
        raise ServiceError({key: ["This field cannot be changed."] for key in sorted(unknown)})
    errors: dict[str, list[str]] = {}
    if "name" in data:
        try:
            data["name"] = _clean_name(data["name"])
        except ServiceError as exc:
            errors.update(exc.errors)
    for key in ("open", "disabled"):
        if key in data and not isinstance(data[key], bool):
            errors[key] = ["Must be a boolean."]
    if "access_mode" in data and data["access_mode"] not in Flow.AccessMode.values:
        errors["access_mode"] = [f"Must be one of: {', '.join(Flow.AccessMode.values)}."]
    if "module" in data and data["module"] not in ("", None, *Flow.Module.values):
        errors["module"] = [f"Must be one of: {', '.join(Flow.Module.values)}."]
    if errors:
        raise ServiceError(errors)

    is_admin = organization_is_admin(user=actor, organization=flow.organization)
    membership = FlowMembership.objects.filter(flow=flow, user=actor).first()
    is_member = membership is not None and not membership.disabled
    if ("access_mode" in data and data["access_mode"] != flow.access_mode) or (
        "disabled" in data and data["disabled"] != flow.disabled
    ):
        if not is_admin:
            raise Forbidden("Only organization admins can change the access mode or disable a flow.")
    if ("name" in data or "module" in data) and not (is_member or is_admin):
        raise Forbidden("Join the flow before changing it.")

    with transaction.atomic():
        if data.get("open") is True and not is_member:
            if membership is not None and membership.disabled:
                raise Forbidden("You have been blocked from this flow.")
            if flow.disabled:
                raise Forbidden("This flow is disabled.")
            if flow.access_mode == Flow.AccessMode.INVITATION and not is_admin:
                raise Forbidden("This flow is invitation only.")
            if flow.access_mode == Flow.AccessMode.LINK and not is_admin:
                raise Forbidden("This flow is joined by its join link.")
            membership = FlowMembership.objects.create(flow=flow, user=actor, open=True)
        elif "open" in data and is_member:
            membership.open = data["open"]
            membership.save(update_fields=["open"])
        for key in ("name", "access_mode", "disabled"):
            if key in data:
                setattr(flow, key, data[key])
        if "module" in data:
            flow.module = data["module"] or ""
        # Only what this changes: a full save would write back a schema_version read before it.
        flow.save(update_fields=["name", "access_mode", "disabled", "module"])
    return flow


def flow_join_by_token(*, user: User, flow: Flow) -> FlowMembership:
    """Join a flow by its join link, once the person confirmed (a POST). Link mode admits whoever
    holds the link; organization mode only members of the flow's organization; invitation-only and
    disabled flows nobody (the same rule as flows.selectors.flow_by_join_token, held here too so no
    caller can skip it)."""
    if flow.disabled:
        raise Forbidden("This flow is disabled.")
    if flow.access_mode == Flow.AccessMode.INVITATION:
        raise Forbidden("This flow is invitation only.")
    if (
        flow.access_mode == Flow.AccessMode.ORGANIZATION
        and not OrganizationMembership.objects.filter(organization_id=flow.organization_id, user=user).exists()
    ):
        raise Forbidden("Only members of the organization can join this flow.")
    membership, _ = FlowMembership.objects.get_or_create(flow=flow, user=user)
    if membership.disabled:
        raise Forbidden("You have been blocked from this flow.")
    if not membership.open:
        membership.open = True
        membership.save(update_fields=["open"])
    return membership


def flow_add_user(*, actor: User, flow: Flow, user_id) -> FlowMembership:
    """Existing members (and organization admins) add organization members to a flow."""
    is_admin = organization_is_admin(user=actor, organization=flow.organization)
    if not is_admin and not FlowMembership.objects.filter(flow=flow, user=actor, disabled=False).exists():
        raise Forbidden("Only members of the flow can add people to it.")
    if isinstance(user_id, bool) or not isinstance(user_id, int | str):
        raise ServiceError({"id": ["Must be a user id."]})
    user_id = id_or_none(user_id)
    if user_id is None:
        raise ServiceError({"id": ["Must be a user id."]})
    if not OrganizationMembership.objects.filter(organization=flow.organization, user_id=user_id).exists():
        raise ServiceError({"id": ["Only members of the organization can be added."]})
    membership, created = FlowMembership.objects.get_or_create(flow=flow, user_id=user_id)
    if not created and membership.disabled:
        if not is_admin:
            raise Forbidden("Only organization admins can unblock a member.")
        membership.disabled = False
        membership.save(update_fields=["disabled"])
    return membership


def flow_update_user(*, actor: User, flow: Flow, user_id, data: dict) -> FlowMembership:
    """Organization admins block (`disabled`) members and let them design the flow (`can_edit`)."""
    if not organization_is_admin(user=actor, organization=flow.organization):
        raise Forbidden("Only organization admins can change members.")
    unknown = set(data) - {"disabled", "can_edit"}
    errors = {key: ["This field cannot be changed."] for key in sorted(unknown)}
    for key in ("disabled", "can_edit"):
        if key in data and not isinstance(data[key], bool):
            errors[key] = ["Must be a boolean."]
    if errors:
        raise ServiceError(errors)
    membership = FlowMembership.objects.filter(flow=flow, user_id=user_id).select_related("user").first()
    if membership is None:
        raise Http404
    for key in ("disabled", "can_edit"):
        if key in data:
            setattr(membership, key, data[key])
    membership.save()
    return membership


def flow_rotate_signing_secret(*, actor: User, flow: Flow) -> Flow:
    if not flow_can_edit(flow=flow, user=actor):
        raise Forbidden("Only people who may edit the flow can rotate its signing secret.")
    flow.signing_secret = new_signing_secret()
    flow.save(update_fields=["signing_secret"])
    return flow


def flow_schema_bump(*, flows: Iterable[Flow] = (), flow_ids: Iterable[str] = ()) -> None:
    """Give flows a new schema_version. Call it in the transaction of every write to their fields
    or stages, so that once it commits no process serves its cached copy of the old ones
    (flows.selectors.flow_schema_cached)."""
    flows = list(flows)
    ids = {flow.pk for flow in flows} | {flow_id for flow_id in flow_ids if flow_id}
    if not ids:
        return
    version = new_schema_version()
    Flow.objects.filter(pk__in=ids).update(schema_version=version)
    for flow in flows:
        flow.schema_version = version
        # Other requests read the old version until this commits: only a fresh read is current.
        flow.schema_is_current = False
