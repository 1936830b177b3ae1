"""Pages for people: organizations, flows, settings. Thin: forms in, services, templates out."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token

from flows import selectors, services
from flows.forms import FlowSettingsForm, NameForm, SignupForm
from flows.serializers import flow_json
from flowsite.api import Forbidden, ServiceError


def _apply_errors(form, exc: ServiceError) -> None:
    for field, reasons in exc.errors.items():
        for reason in reasons:
            form.add_error(field if field in form.fields else None, reason)


@login_required
def home(request):
    organizations = list(selectors.organization_list(user=request.user))
    flows = list(selectors.flow_list_all(user=request.user))
    admin_org_ids = set(
        selectors.OrganizationMembership.objects.filter(user=request.user, admin=True).values_list(
            "organization_id", flat=True
        )
    )
    for organization in organizations:
        organization.my_flows = [f for f in flows if f.organization_id == organization.pk]
        organization.is_admin = organization.pk in admin_org_ids
    return render(request, "flows/home.html", {"organizations": organizations})


@require_http_methods(["GET", "POST"])
def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
            )
        except ServiceError as exc:
            _apply_errors(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("home")
    return render(request, "flows/signup.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def account_settings(request):
    if request.method == "POST" and request.POST.get("regenerate"):
        Token.objects.filter(user=request.user).delete()
        messages.success(request, "A new API token was issued; the old one no longer works.")
        return redirect("account_settings")
    token, _ = Token.objects.get_or_create(user=request.user)
    return render(request, "flows/account_settings.html", {"token": token})


@login_required
@require_http_methods(["GET", "POST"])
def organization_new(request):
    form = NameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.organization_create(user=request.user, name=form.cleaned_data["name"])
        return redirect("home")
    return render(request, "flows/organization_new.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def flow_new(request, org):
    organization = selectors.organization_get(user=request.user, slug=org)
    form = NameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        flow = services.flow_create(user=request.user, organization=organization, name=form.cleaned_data["name"])
        return redirect("flow_board", org=organization.parameterized_name, flow=flow.parameterized_name)
    return render(request, "flows/flow_new.html", {"form": form, "organization": organization})


@login_required
@require_http_methods(["GET", "POST"])
def flow_settings(request, org, flow):
    found = selectors.flow_get(user=request.user, org_slug=org, flow_slug=flow)
    is_admin = selectors.organization_is_admin(user=request.user, organization=found.organization)
    if request.method == "POST" and request.POST.get("action") == "join":
        # The board's join prompt: people who have not joined yet, so before the members-only check.
        try:
            services.flow_update(actor=request.user, flow=found, data={"open": True})
        except Forbidden as exc:
            messages.error(request, exc.message)
            return redirect("home")
        return redirect("flow_board", org=org, flow=flow)
    if not found.joined and not is_admin:
        raise Http404
    initial = {"name": found.name, "access_mode": found.access_mode, "module": found.module, "disabled": found.disabled}
    form = FlowSettingsForm(request.POST or None, initial=initial)
    action = request.POST.get("action", "save")
    try:
        if request.method == "POST" and action == "add_member":
            services.flow_add_user(actor=request.user, flow=found, user_id=request.POST.get("user_id", ""))
            messages.success(request, "Member added.")
            return redirect("flow_settings", org=org, flow=flow)
        if request.method == "POST" and action in ("block", "unblock", "allow_edit", "disallow_edit"):
            data = {
                "block": {"disabled": True},
                "unblock": {"disabled": False},
                "allow_edit": {"can_edit": True},
                "disallow_edit": {"can_edit": False},
            }[action]
            services.flow_update_user(actor=request.user, flow=found, user_id=request.POST.get("user_id"), data=data)
            return redirect("flow_settings", org=org, flow=flow)
        if request.method == "POST" and action == "rotate_secret":
            services.flow_rotate_signing_secret(actor=request.user, flow=found)
            messages.success(request, "A new signing secret was issued.")
            return redirect("flow_settings", org=org, flow=flow)
        if request.method == "POST" and action == "save" and form.is_valid():
            data = {"name": form.cleaned_data["name"], "module": form.cleaned_data["module"]}
            if is_admin:
                data["access_mode"] = form.cleaned_data["access_mode"]
                data["disabled"] = form.cleaned_data["disabled"]
            services.flow_update(actor=request.user, flow=found, data=data)
            messages.success(request, "Flow saved.")
            return redirect("flow_settings", org=org, flow=flow)
    except ServiceError as exc:
        _apply_errors(form, exc)
        for reasons in exc.errors.values():
            for reason in reasons:
                messages.error(request, reason)
    except Forbidden as exc:
        messages.error(request, exc.message)
    found = selectors.flow_get_by_id(user=request.user, flow_id=found.pk)
    members = list(selectors.flow_members(flow=found))
    member_ids = {m.user_id for m in members}
    candidates = [
        m.user for m in selectors.organization_members(organization=found.organization) if m.user_id not in member_ids
    ]

    context = {
        "flow": found,
        "form": form,
        "is_admin": is_admin,
        "can_edit": selectors.flow_can_edit(flow=found, user=request.user),
        "members": members,
        "candidates": candidates,
        "join_url": flow_json(request, found).get("join_url"),
    }
    return render(request, "flows/flow_settings.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def flow_join(request, token):
    """A flow's join link. GET shows what the person is about to join and a button; only the POST
    (CSRF-protected) joins, so a link opened by a crawler, a preview or a forged page joins nobody.
    A link the person may not use (an organization-mode flow of another organization) is not found."""
    raw_token = token.split("-", 1)[0]
    flow = selectors.flow_by_join_token(user=request.user, token=raw_token)
    if flow is None:
        raise Http404
    board = redirect("flow_board", org=flow.organization.parameterized_name, flow=flow.parameterized_name)
    if request.method == "GET":
        if selectors.flow_can_read(user=request.user, flow=flow):
            return board
        return render(request, "flows/flow_join.html", {"flow": flow})
    try:
        services.flow_join_by_token(user=request.user, flow=flow)
    except Forbidden as exc:
        messages.error(request, exc.message)
        return redirect("home")
    return board
