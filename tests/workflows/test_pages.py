"""The workflow pages through the real URL layer: list, editor (with nested filters and branches),
toggle, delete, HTMX fragments."""

import re

import pytest
from django.test import Client

from tests.workflows.crm import crm  # noqa: F401  (overrides the conftest fixture)
from workflows.models import Workflow

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def base_form(**extra) -> dict:
    data = {
        "name": "Route web leads",
        "description": "From the editor",
        "triggerModule": "leads",
        "triggerType": "lead_created",
        "flowId": "",
        "isActive:bool": ["0", "1"],
        "triggerFilters.logic": "AND",
    }
    data.update(extra)
    return data


def full_form(crm) -> dict:
    """A nested filter group and a branch with then/else actions, named as the editor names them."""
    rep = crm.world.admin
    return base_form(
        **{
            "triggerFilters.conditions[0].field": "Source",
            "triggerFilters.conditions[0].operator": "equals",
            "triggerFilters.conditions[0].value": "website",
            "triggerFilters.conditions[1].logic": "OR",
            "triggerFilters.conditions[1].conditions[0].field": "Score",
            "triggerFilters.conditions[1].conditions[0].operator": "greater_than",
            "triggerFilters.conditions[1].conditions[0].value": "10",
            "triggerFilters.conditions[1].conditions[1].field": "Company Name",
            "triggerFilters.conditions[1].conditions[1].operator": "is_not_empty",
            "triggerFilters.conditions[1].conditions[1].value": "ignored",
            "actions[0].actionType": "branch",
            "actions[0].config.logic": "AND",
            "actions[0].config.conditions[0].field": "Source",
            "actions[0].config.conditions[0].operator": "in",
            "actions[0].config.conditions[0].value": "website, ads",
            "actions[0].config.then[0].actionType": "add_tag",
            "actions[0].config.then[0].config.tags": "web, hot",
            "actions[0].config.then[1].actionType": "wait",
            "actions[0].config.then[1].config.duration": "2",
            "actions[0].config.then[1].config.unit": "hours",
            "actions[0].config.else[0].actionType": "assign_owner",
            "actions[0].config.else[0].config.algorithm": "least_loaded",
            "actions[0].config.else[0].config.userIds:list": [str(rep.pk)],
            "actions[1].actionType": "webhook",
            "actions[1].config.url": "https://hooks.example.com/lead",
            "actions[1].config.method": "POST",
            "actions[1].config.headers[0].name": "Authorization",
            "actions[1].config.headers[0].value": "Bearer top-secret-token",
            "actions[1].config.headers[0].secret:bool": ["0", "1"],
            "actions[1].config.headers[1].name": "X-Team",
            "actions[1].config.headers[1].value": "sales",
            "actions[1].config.headers[1].secret:bool": "0",
            "actions[1].config.body": '{"lead": "{{trigger.company_name}}"}',
            "actions[1].config.maxAttempts": "3",
            "actions[2].actionType": "update_field",
            "actions[2].config.fields[0].name": "Source",
            "actions[2].config.fields[0].value": "web",
        }
    )


def create(crm, client=None) -> Workflow:
    client = client or client_for(crm.world.admin)
    response = client.post("/organizations/acme/workflows/new", full_form(crm))
    assert response.status_code == 302, response.content.decode()[:3000]
    return Workflow.objects.get(name="Route web leads")


def test_list_renders_for_admins_and_members_and_404_for_outsiders(crm):
    workflow = create(crm)
    admin = client_for(crm.world.admin).get("/organizations/acme/workflows")
    assert admin.status_code == 200
    html = admin.content.decode()
    assert "Route web leads" in html and "When a lead is created" in html and "New workflow" in html
    assert "lead_created</td>" not in html
    assert f"/organizations/acme/workflows/{workflow.pk}/runs" in html
    assert f'/organizations/acme/workflows/{workflow.pk}/toggle"' in html
    member = client_for(crm.world.member).get("/organizations/acme/workflows")
    assert member.status_code == 200
    assert "Route web leads" in member.content.decode() and "New workflow" not in member.content.decode()
    assert "/toggle" not in member.content.decode()
    assert client_for(crm.world.outsider).get("/organizations/acme/workflows").status_code == 404
    assert client_for(crm.world.outsider).get(f"/organizations/acme/workflows/{workflow.pk}").status_code == 404
    assert client_for(crm.world.outsider).get(f"/organizations/other/workflows/{workflow.pk}").status_code == 404
    assert Client().get("/organizations/acme/workflows").status_code == 302  # to the login page


def test_home_links_to_the_workflows(crm):
    html = client_for(crm.world.member).get("/").content.decode()
    assert 'href="/organizations/acme/workflows"' in html


def test_create_through_the_editor_reads_back_in_the_api_shape(crm, api):
    workflow = create(crm)
    data = api(crm.world.admin).get(f"/api/workflows/{workflow.pk}").json()
    assert data["name"] == "Route web leads" and data["version"] == 1 and data["isActive"] is True
    assert data["triggerModule"] == "leads" and data["triggerType"] == "lead_created"
    assert data["triggerFilters"] == {
        "logic": "AND",
        "conditions": [
            {"field": "Source", "operator": "equals", "value": "website"},
            {
                "logic": "OR",
                "conditions": [
                    {"field": "Score", "operator": "greater_than", "value": "10"},
                    {"field": "Company Name", "operator": "is_not_empty", "value": None},
                ],
            },
        ],
    }
    branch, webhook, update = data["actions"]
    assert [a["sortOrder"] for a in data["actions"]] == [1, 2, 3]
    assert branch["actionType"] == "branch"
    assert branch["config"]["logic"] == "AND"
    assert branch["config"]["conditions"] == [{"field": "Source", "operator": "in", "value": ["website", "ads"]}]
    nested_ids = [a.get("id") for a in branch["config"]["then"] + branch["config"]["else"]]
    assert all(nested_ids) and len(set(nested_ids)) == 3, "each nested action gets its own stable id"
    assert branch["config"]["then"] == [
        {"id": nested_ids[0], "actionType": "add_tag", "config": {"tags": ["web", "hot"]}},
        {"id": nested_ids[1], "actionType": "wait", "config": {"duration": 2, "unit": "hours"}},
    ]
    assert branch["config"]["else"] == [
        {
            "id": nested_ids[2],
            "actionType": "assign_owner",
            "config": {"algorithm": "least_loaded", "userIds": [crm.world.admin.pk]},
        }
    ]
    assert webhook["actionType"] == "webhook"
    assert webhook["config"]["url"] == "https://hooks.example.com/lead"
    assert webhook["config"]["maxAttempts"] == 3
    assert webhook["config"]["body"] == {"lead": "{{trigger.company_name}}"}
    ids = [h.get("id") for h in webhook["config"]["headers"]]
    assert all(ids) and len(set(ids)) == 2, "each stored header row gets its own stable id"
    assert webhook["config"]["headers"] == [
        {"id": ids[0], "name": "Authorization", "value": "********", "secret": True},
        {"id": ids[1], "name": "X-Team", "value": "sales", "secret": False},
    ]
    assert update == {**update, "actionType": "update_field", "config": {"field": "Source", "value": "web"}}


def test_editor_renders_the_saved_workflow_and_a_resave_keeps_the_secret_and_bumps_the_version(crm, api):
    workflow = create(crm)
    tag_id = workflow.actions.get(action_type="branch").config["then"][0]["id"]
    admin = client_for(crm.world.admin)
    page = admin.get(f"/organizations/acme/workflows/{workflow.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "top-secret-token" not in html and "********" in html
    assert f'name="actions[0].config.then[0].id" value="{tag_id}"' in html
    assert 'name="triggerFilters.conditions[1].conditions[0].field"' in html
    assert 'name="actions[0].config.then[1].config.duration"' in html
    assert 'name="actions[0].config.else[0].config.userIds:list"' in html
    # Post back exactly what the page holds (as a browser would), with a new name.
    form = form_values(html)
    form["name"] = "Route web leads v2"
    response = admin.post(f"/organizations/acme/workflows/{workflow.pk}", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    workflow.refresh_from_db()
    assert workflow.version == 2 and workflow.name == "Route web leads v2"
    webhook = workflow.actions.get(action_type="webhook")
    from actions.steps.http import secret_values

    assert "Bearer top-secret-token" in secret_values(webhook.config["headers"])
    data = api(crm.world.admin).get(f"/api/workflows/{workflow.pk}").json()
    assert data["actions"][0]["config"]["then"][0] == {
        "id": tag_id,
        "actionType": "add_tag",
        "config": {"tags": ["web", "hot"]},
    }, "a nested action keeps its id through the editor"
    assert data["triggerFilters"]["conditions"][1]["logic"] == "OR"


def test_editor_matches_a_masked_secret_by_its_header_row_id(crm):
    workflow = create(crm)
    stored = {h["name"]: h["id"] for h in workflow.actions.get(action_type="webhook").config["headers"]}
    admin = client_for(crm.world.admin)
    html = admin.get(f"/organizations/acme/workflows/{workflow.pk}").content.decode()
    prefix = "actions[1].config.headers"
    assert f'name="{prefix}[0].id" value="{stored["Authorization"]}"' in html
    form = form_values(html)
    assert form[f"{prefix}[0].value"] == ["********"]
    # The rows swapped and the secret one renamed, its value left masked: its id keeps its secret.
    rows = [{key: form[f"{prefix}[{i}].{key}"] for key in ("id", "name", "value", "secret:bool")} for i in (0, 1)]
    rows[0]["name"] = ["X-Renamed"]
    for i, row in enumerate(reversed(rows)):
        form.update({f"{prefix}[{i}].{key}": value for key, value in row.items()})
    response = admin.post(f"/organizations/acme/workflows/{workflow.pk}", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    headers = workflow.actions.get(action_type="webhook").config["headers"]
    assert [(h["id"], h["name"], h["secret"]) for h in headers] == [
        (stored["X-Team"], "X-Team", False),
        (stored["Authorization"], "X-Renamed", True),
    ]
    from actions.steps.http import secret_values

    assert "Bearer top-secret-token" in secret_values(headers)

    # A masked value whose row id is not stored is refused, though a stored row has its name.
    form[f"{prefix}[1].id"] = ["forged-id"]
    response = admin.post(f"/organizations/acme/workflows/{workflow.pk}", form)
    assert response.status_code == 422
    assert "enter the secret value" in response.content.decode()


def test_editor_keeps_a_nested_actions_masked_secret_by_its_id_when_it_moves(crm):
    then = "actions[0].config.then"
    form = base_form(
        **{
            "actions[0].actionType": "branch",
            "actions[0].config.logic": "AND",
            "actions[0].config.conditions[0].field": "Source",
            "actions[0].config.conditions[0].operator": "equals",
            "actions[0].config.conditions[0].value": "website",
            f"{then}[0].actionType": "add_tag",
            f"{then}[0].config.tags": "web",
            f"{then}[1].actionType": "webhook",
            f"{then}[1].config.url": "https://hooks.example.com/nested",
            f"{then}[1].config.method": "POST",
            f"{then}[1].config.headers[0].name": "Authorization",
            f"{then}[1].config.headers[0].value": "Bearer nested-secret",
            f"{then}[1].config.headers[0].secret:bool": ["0", "1"],
        }
    )
    admin = client_for(crm.world.admin)
    assert admin.post("/organizations/acme/workflows/new", form).status_code == 302
    workflow = Workflow.objects.get(name="Route web leads")
    stored = workflow.actions.get().config["then"]
    html = admin.get(f"/organizations/acme/workflows/{workflow.pk}").content.decode()
    assert f'name="{then}[1].id" value="{stored[1]["id"]}"' in html
    form = form_values(html)
    assert form[f"{then}[1].config.headers[0].value"] == ["********"]
    # The webhook moved above the tag, its secret left masked: its id finds its stored secret
    # (matched by place it would meet the tag action and be refused).
    swap = {f"{then}[0]": f"{then}[1]", f"{then}[1]": f"{then}[0]"}
    form = {
        next((swap[p] + key[len(p) :] for p in swap if key.startswith(p + ".")), key): value
        for key, value in form.items()
    }
    response = admin.post(f"/organizations/acme/workflows/{workflow.pk}", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    moved = workflow.actions.get().config["then"]
    assert [(a["id"], a["actionType"]) for a in moved] == [(stored[1]["id"], "webhook"), (stored[0]["id"], "add_tag")]
    from actions.steps.http import secret_values

    assert "Bearer nested-secret" in secret_values(moved[0]["config"]["headers"])


def form_values(html: str) -> dict:
    """The values a browser would submit from the editor form (inputs, selects, textareas)."""
    form = html[html.index('<form method="post"') :]
    data: dict[str, list[str]] = {}

    def add(name, value):
        data.setdefault(name, []).append(value)

    import html as htmllib

    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]*)"', tag)
        if not name:
            continue
        kind = re.search(r'type="([^"]*)"', tag)
        kind = kind.group(1) if kind else "text"
        value = re.search(r'value="([^"]*)"', tag)
        value = htmllib.unescape(value.group(1)) if value else ""
        if kind == "checkbox" and " checked" not in tag:
            continue
        add(htmllib.unescape(name.group(1)), value)
    for match in re.finditer(r"<select([^>]*)>(.*?)</select>", form, re.S):
        name = re.search(r'name="([^"]*)"', match.group(1))
        if not name or name.group(1).startswith("_new"):
            continue
        options = re.findall(r'<option value="([^"]*)"([^>]*)>', match.group(2))
        chosen = [v for v, attrs in options if "selected" in attrs]
        if not chosen and "multiple" not in match.group(1) and options:
            chosen = [options[0][0]]
        for value in chosen:
            add(htmllib.unescape(name.group(1)), htmllib.unescape(value))
    for match in re.finditer(r'<textarea[^>]*name="([^"]*)"[^>]*>(.*?)</textarea>', form, re.S):
        add(htmllib.unescape(match.group(1)), htmllib.unescape(match.group(2)))
    data.pop("csrfmiddlewaretoken", None)
    return data


def test_members_see_the_editor_read_only_and_get_403_on_posts(crm):
    workflow = create(crm)
    member = client_for(crm.world.member)
    page = member.get(f"/organizations/acme/workflows/{workflow.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Read-only" in html and '<fieldset class="plain" disabled>' in html
    assert "Save as version" not in html
    assert member.get(f"/organizations/acme/workflows/{workflow.pk}/runs").status_code == 200
    assert member.post("/organizations/acme/workflows/new", full_form(crm)).status_code == 403
    assert member.post(f"/organizations/acme/workflows/{workflow.pk}", full_form(crm)).status_code == 403
    assert member.post(f"/organizations/acme/workflows/{workflow.pk}/toggle", {"isActive": "false"}).status_code == 403
    assert member.post(f"/organizations/acme/workflows/{workflow.pk}/delete").status_code == 403
    assert (
        member.post(
            f"/organizations/acme/workflows/{workflow.pk}",
            {**full_form(crm), "op": "add_condition:triggerFilters"},
            **HX,
        ).status_code
        == 403
    )
    workflow.refresh_from_db()
    assert workflow.version == 1 and workflow.is_active


def test_new_editor_renders(crm):
    response = client_for(crm.world.admin).get("/organizations/acme/workflows/new?module=opportunities")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<option value="opportunity_won"' in html
    assert "Create workflow" in html
    for label in ("Assign owner", "Webhook", "Branch", "Wait", "Create project", "Send WhatsApp"):
        assert f">{label}</option>" in html


def test_validation_errors_are_shown_next_to_the_input(crm):
    admin = client_for(crm.world.admin)
    form = base_form(
        **{
            "triggerFilters.conditions[0].field": "Source",
            "triggerFilters.conditions[0].operator": "sounds_like",
            "triggerFilters.conditions[0].value": "web",
        }
    )
    response = admin.post("/organizations/acme/workflows/new", form)
    assert response.status_code == 422
    html = response.content.decode()
    condition = block(html, "triggerFilters.conditions[0]")
    assert "unknown operator &quot;sounds_like&quot;" in condition
    assert "The workflow was not saved" in html
    assert 'value="web"' in condition  # what the person typed is still there

    form = base_form(
        **{
            "actions[0].actionType": "branch",
            "actions[0].config.logic": "AND",
            "actions[0].config.conditions[0].field": "Source",
            "actions[0].config.conditions[0].operator": "equals",
            "actions[0].config.conditions[0].value": "x",
            "actions[0].config.then[0].actionType": "webhook",
            "actions[0].config.then[0].config.url": "",
            "actions[0].config.then[0].config.method": "POST",
        }
    )
    html = admin.post("/organizations/acme/workflows/new", form).content.decode()
    nested = block(html, "actions[0].config.then[0]")
    assert "is required" in nested and 'name="actions[0].config.then[0].config.url"' in nested
    url_input = nested.index('name="actions[0].config.then[0].config.url"')
    assert nested.index("is required") > url_input
    assert not Workflow.objects.exists()

    html = admin.post("/organizations/acme/workflows/new", base_form(name="")).content.decode()
    assert re.search(r'name="name"[^>]*aria-invalid="true"', html)
    assert "This field is required." in html


def block(html: str, path: str) -> str:
    """The markup of the editor node with that data-path, up to the next node that is not inside it."""
    tail = html[html.index(f'data-path="{path}"') :]
    for match in re.finditer(r'data-path="([^"]*)"', tail):
        if not match.group(1).startswith(path):
            return tail[: match.start()]
    return tail


def test_bad_json_is_an_error_next_to_the_body(crm):
    form = base_form(
        **{
            "actions[0].actionType": "webhook",
            "actions[0].config.url": "https://hooks.example.com/x",
            "actions[0].config.method": "POST",
            "actions[0].config.body": "{not json",
        }
    )
    response = client_for(crm.world.admin).post("/organizations/acme/workflows/new", form)
    assert response.status_code == 422
    html = block(response.content.decode(), "actions[0]")
    assert "is not valid JSON" in html and "{not json" in html


def test_htmx_fragments(crm):
    admin = client_for(crm.world.admin)
    url = "/organizations/acme/workflows/new"
    typed = base_form(**{"name": "Typed so far", "triggerFilters.conditions[0].field": "Source"})

    response = admin.post(url, {**typed, "triggerModule": "projects", "op": "module"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<section class="card" id="trigger"')
    assert '<option value="project_completed"' in html and "lead_created" not in html
    assert 'id="conditions"' in html and 'hx-swap-oob="true"' in html  # field choices follow the module
    assert "Typed so far" not in html  # the name input is not part of these fragments

    response = admin.post(url, {**typed, "op": "add_condition:triggerFilters"}, **HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="conditions"') and "<html" not in html
    assert 'name="triggerFilters.conditions[1].field"' in html
    assert re.search(r'name="triggerFilters.conditions\[0\].field".*?<option value="Source" selected', html, re.S)

    response = admin.post(url, {**typed, "op": "add_group:triggerFilters"}, **HX)
    html = response.content.decode()
    assert 'name="triggerFilters.conditions[1].logic"' in html
    assert 'name="triggerFilters.conditions[1].conditions[0].field"' in html

    response = admin.post(url, {**typed, "op": "add_action:actions", "_new:actions": "branch"}, **HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="actions"') and "<html" not in html
    assert 'name="actions[0].actionType" value="branch"' in html
    assert 'name="_new:actions[0].config.then"' in html and 'name="_new:actions[0].config.else"' in html

    nested = {
        **typed,
        "actions[0].actionType": "branch",
        "actions[0].config.logic": "AND",
        "op": "add_action:actions[0].config.else",
        "_new:actions[0].config.else": "webhook",
    }
    html = admin.post(url, nested, **HX).content.decode()
    assert 'name="actions[0].config.else[0].config.url"' in html

    # Without htmx the same button answers with the whole page, nothing lost.
    response = admin.post(url, {**typed, "op": "add_condition:triggerFilters"})
    assert response.status_code == 200 and "<html" in response.content.decode()
    assert 'value="Typed so far"' in response.content.decode()


def test_reorder_and_remove_keep_typed_values(crm):
    admin = client_for(crm.world.admin)
    form = base_form(
        **{
            "actions[0].actionType": "add_tag",
            "actions[0].config.tags": "first",
            "actions[1].actionType": "wait",
            "actions[1].config.duration": "7",
            "actions[1].config.unit": "days",
            "actions[2].actionType": "send_sms",
            "actions[2].config.to": "+15551234567",
            "actions[2].config.body": "hello",
        }
    )
    html = admin.post("/organizations/acme/workflows/new", {**form, "op": "up:actions[1]"}, **HX).content.decode()
    assert 'name="actions[0].actionType" value="wait"' in html
    assert 'name="actions[0].config.duration" value="7"' in html
    assert 'name="actions[1].config.tags" value="first"' in html
    html = admin.post("/organizations/acme/workflows/new", {**form, "op": "remove:actions[0]"}, **HX).content.decode()
    assert 'actionType" value="add_tag"' not in html and 'name="actions[1].config.to" value="+15551234567"' in html
    html = admin.post("/organizations/acme/workflows/new", {**form, "op": "down:actions[2]"}, **HX).content.decode()
    assert 'name="actions[2].actionType" value="send_sms"' in html  # the last one stays last


def test_toggle_swaps_the_row(crm):
    workflow = create(crm)
    admin = client_for(crm.world.admin)
    url = f"/organizations/acme/workflows/{workflow.pk}/toggle"
    response = admin.post(url, {"isActive": "false"}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="workflow-{workflow.pk}"') and "Inactive" in html
    workflow.refresh_from_db()
    assert workflow.is_active is False and workflow.version == 1
    assert admin.post(url, {"isActive": "false"}, **HX).status_code == 200  # idempotent
    workflow.refresh_from_db()
    assert workflow.is_active is False
    response = admin.post(url, {"isActive": "true"})
    assert response.status_code == 302 and response["Location"] == "/organizations/acme/workflows"
    workflow.refresh_from_db()
    assert workflow.is_active is True


def test_delete_with_confirmation(crm):
    workflow = create(crm)
    admin = client_for(crm.world.admin)
    url = f"/organizations/acme/workflows/{workflow.pk}/delete"
    page = admin.get(url)
    assert page.status_code == 200 and "Delete workflow" in page.content.decode()
    assert Workflow.objects.filter(pk=workflow.pk).exists()
    response = admin.post(url)
    assert response.status_code == 302 and not Workflow.objects.filter(pk=workflow.pk).exists()


@pytest.fixture
def formless_type():
    """Every built-in type has a form now; a type declaring none is edited as JSON."""
    from actions.steps.base import StepResult, StepType, register, unregister

    @register
    class Formless(StepType):
        type = "test_formless"
        label = "Formless"

        def validate(self, config, *, flow=None, organization=None, old=None):
            return config

        def execute(self, ctx, config):
            return StepResult()

    yield Formless
    unregister(Formless)


def test_json_fallback_for_types_without_a_form(crm, api, formless_type):
    form = base_form(
        **{
            "actions[0].actionType": "test_formless",
            "actions[0].config": '{"stage": "Qualified"}',
        }
    )
    admin = client_for(crm.world.admin)
    assert admin.post("/organizations/acme/workflows/new", form).status_code == 302
    workflow = Workflow.objects.get()
    data = api(crm.world.admin).get(f"/api/workflows/{workflow.pk}").json()
    assert data["actions"][0]["config"] == {"stage": "Qualified"}
    html = admin.get(f"/organizations/acme/workflows/{workflow.pk}").content.decode()
    assert 'name="actions[0].config"' in html and "&quot;Qualified&quot;" in html


def test_a_forged_deep_path_is_ignored(crm):
    deep = "triggerFilters" + ".conditions[0]" * 400 + ".field"
    from urllib.parse import urlencode

    body = urlencode({**base_form(), deep: "x", "op": "add_condition:triggerFilters"}, doseq=True)
    response = client_for(crm.world.admin).post(
        "/organizations/acme/workflows/new", body, content_type="application/x-www-form-urlencoded", **HX
    )
    assert response.status_code == 200 and 'name="triggerFilters.conditions[0].field"' in response.content.decode()
