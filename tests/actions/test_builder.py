"""The Flow Builder through Django's test client: every endpoint, its HTMX fragments, permissions,
the draft (apply, save, validation errors mapped to steps), stages, versions and test requests."""

import html
import json
import re

import pytest
from django.template import Context, Template
from django.test import RequestFactory

from actions.builder import canvas_layout
from actions.models import Action, BuilderDraft, FlowVersion, Run, Step
from actions.services import action_perform
from actions.versions import flow_design_version
from flows.models import Stage
from tasks.services import task_create
from tests.actions.conftest import reply_json
from tests.signatures import assert_signed

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
B = "/flows/acme/sales/builder"


@pytest.fixture
def flow(seed):
    seed.start = seed.action("Start", [{"type": "move_to_stage", "config": {"stage": "In Progress"}}], ["Not Started"])
    seed.finish = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    return seed


@pytest.fixture
def admin(client, flow):
    client.force_login(flow.world.admin)
    return client


def draft_of(flow, user=None) -> dict:
    return BuilderDraft.objects.get(flow=flow.flow, user=user or flow.world.admin).data


def text(response) -> str:
    return html.unescape(response.content.decode())


def oob_ids(response) -> list[str]:
    return re.findall(r'id="([\w-]+)"[^>]*hx-swap-oob="true"', response.content.decode())


def api_call_form(url, *, headers=(), step_key="", **extra):
    data = {"type": "api_call", "step_key": step_key, "config.url": url, "config.method": "POST", **extra}
    for index, (name, value, secret) in enumerate(headers):
        data[f"config.headers[{index}].name"] = name
        data[f"config.headers[{index}].value"] = value
        if secret:
            data[f"config.headers[{index}].secret:bool"] = "1"
    return data


# --- the page, the link and who may open them ---------------------------------------------------


def test_page_draws_stages_and_actions(admin, flow):
    response = admin.get(B)
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("Not Started", "In Progress", "Completed"):
        assert f'data-stage-name="{name}"' in html
    assert 'data-action="Start"' in html and 'data-action="Finish"' in html
    assert html.count('class="connector') == 2
    assert "css/builder.css" in html and "js/builder.js" in html
    assert 'data-unsaved="false"' in html


@pytest.mark.parametrize(
    "who,status",
    [("admin", 200), ("editor", 200), ("flow_member", 403), ("member", 404), ("outsider", 404)],
)
def test_who_may_open_the_builder(client, flow, who, status):
    world = flow.world
    if who == "editor":
        user = world.flow_member
        world.flow.memberships.filter(user=user).update(can_edit=True)
    else:
        user = getattr(world, who)
    client.force_login(user)
    assert client.get(B).status_code == status
    assert client.post(f"{B}/save", **HX).status_code == status
    assert client.get(f"{B}/versions").status_code == status
    assert client.post(f"{B}/actions/new", **HX).status_code == status
    if status != 200:
        assert not Action.objects.filter(name="New action").exists()


def test_forbidden_page_explains(client, flow):
    client.force_login(flow.world.flow_member)
    response = client.get(B)
    assert response.status_code == 403 and "You cannot edit this flow" in response.content.decode()


def test_anonymous_is_sent_to_login(client, flow):
    response = client.get(B)
    assert response.status_code == 302 and "/login" in response["Location"]


def test_builder_link_only_for_editors(flow):
    template = Template('{% include "actions/_builder_link.html" %}')
    for user, shown in [(flow.world.admin, True), (flow.world.flow_member, False)]:
        request = RequestFactory().get("/")
        request.user = user
        html = template.render(Context({"flow": flow.flow, "request": request}))
        assert ('href="/flows/acme/sales/builder"' in html) is shown
        assert ("Flow Builder" in html) is shown


# --- selecting and editing actions in the draft -----------------------------------------------


def test_select_swaps_sidebar_and_canvas_only(admin, flow):
    admin.get(B)
    response = admin.get(f"{B}/select/a{flow.finish.pk}", **HX)
    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert oob_ids(response) == ["sidebar", "canvas"]
    assert 'value="Finish"' in response.content.decode()
    assert draft_of(flow)["selected"] == f"a{flow.finish.pk}"


def test_select_without_htmx_redirects_to_the_page(admin, flow):
    response = admin.get(f"{B}/select/a{flow.finish.pk}")
    assert response.status_code == 302 and response["Location"] == f"{B}?action=a{flow.finish.pk}"
    assert 'name="name" value="Finish"' in admin.get(response["Location"]).content.decode()


def test_unknown_keys_are_404(admin, flow):
    admin.get(B)
    assert admin.get(f"{B}/select/a999999", **HX).status_code == 404
    assert admin.get(f"{B}/actions/a{flow.finish.pk}/steps/s999999", **HX).status_code == 404
    assert admin.get(f"{B}/actions/a{flow.finish.pk}/steps/new/teleport", **HX).status_code == 404


def test_drag_from_stage_to_stage_creates_a_draft_action(admin, flow):
    response = admin.post(f"{B}/actions/new", {"from_stage": flow.not_started.pk, "to_stage": flow.completed.pk}, **HX)
    assert oob_ids(response) == ["sidebar", "canvas", "savebar"]
    html = response.content.decode()
    assert 'data-unsaved="true"' in html and 'data-action="Move to Completed"' in html
    new = draft_of(flow)["actions"][-1]
    assert new["id"] is None and new["from_stages"] == [flow.not_started.pk]
    assert new["steps"][0]["type"] == "move_to_stage" and new["steps"][0]["config"] == {"stage": "Completed"}
    assert not Action.objects.filter(name="Move to Completed").exists(), "nothing is written before Save"
    versions_before = flow_design_version(flow.flow)
    response = admin.post(f"{B}/save", **HX)
    assert "Saved as version" in response.content.decode()
    created = Action.objects.get(name="Move to Completed")
    assert [s.name for s in created.from_stages.all()] == ["Not Started"]
    assert list(created.steps.values_list("type", "config")) == [("move_to_stage", {"stage": "Completed"})]
    assert flow_design_version(flow.flow) == versions_before + 1
    assert draft_of(flow)["selected"] == f"a{created.pk}"


def test_a_blank_or_taken_name_is_refused_where_it_was_typed(admin, flow):
    admin.post(f"{B}/actions/new", **HX)
    key = draft_of(flow)["selected"]
    response = admin.post(f"{B}/actions/{key}", {"name": "  "}, **HX)
    assert oob_ids(response) == ["canvas", "savebar", "action-errors"]
    html = response.content.decode()
    assert "An action needs a name." in html and "Unsaved changes" in html
    assert draft_of(flow)["errors"][key]["action"] == {"name": ["An action needs a name."]}
    admin.post(f"{B}/actions/new", **HX)
    other = draft_of(flow)["selected"]
    admin.post(f"{B}/actions/{other}", {"name": "Review"}, **HX)
    admin.get(f"{B}/select/{key}", **HX)
    response = admin.post(f"{B}/actions/{key}", {"name": "review "}, **HX)
    assert "Another action is already called &quot;review&quot;." in response.content.decode()
    response = admin.post(f"{B}/actions/{key}", {"name": "Close"}, **HX)
    assert key not in draft_of(flow)["errors"]
    assert "field-errors" not in response.content.decode()


def test_new_action_button_and_properties(admin, flow):
    admin.post(f"{B}/actions/new", **HX)
    key = draft_of(flow)["selected"]
    response = admin.post(
        f"{B}/actions/{key}",
        {
            "name": "Review",
            "color": "#16a34a",
            "navigate": "board",
            "from_stages_sent": "1",
            "from_stages": [flow.in_progress.pk, flow.not_started.pk],
        },
        **HX,
    )
    assert oob_ids(response) == ["canvas", "savebar", "action-errors"]
    assert 'data-action="Review"' in response.content.decode()
    action = next(a for a in draft_of(flow)["actions"] if a["key"] == key)
    assert (action["name"], action["color"], action["navigate"]) == ("Review", "#16a34a", "board")
    assert action["from_stages"] == [flow.not_started.pk, flow.in_progress.pk], "kept in stage order"
    admin.post(f"{B}/actions/{key}", {"from_stages_sent": "1"}, **HX)
    assert next(a for a in draft_of(flow)["actions"] if a["key"] == key)["from_stages"] == []
    admin.post(f"{B}/save", **HX)
    review = Action.objects.get(name="Review")
    assert (review.color, review.navigate, review.from_stages.count(), review.steps.count()) == (
        "#16a34a",
        "board",
        0,
        0,
    )


def test_delete_action_on_save(admin, flow):
    admin.get(B)
    response = admin.post(f"{B}/actions/a{flow.start.pk}/delete", **HX)
    assert "To delete on Save: Start" in text(response)
    assert Action.objects.filter(pk=flow.start.pk).exists()
    admin.post(f"{B}/save", **HX)
    assert not Action.objects.filter(pk=flow.start.pk).exists()
    assert FlowVersion.objects.filter(flow=flow.flow).first().summary == 'deleted "Start"'


def test_discard_forgets_the_draft(admin, flow):
    admin.get(B)
    admin.post(f"{B}/actions/a{flow.finish.pk}", {"name": "Done"}, **HX)
    assert 'data-unsaved="true"' in admin.get(B).content.decode(), "an unsaved draft survives a reload"
    response = admin.post(f"{B}/discard", **HX)
    assert "Unsaved changes discarded" in response.content.decode()
    assert next(a for a in draft_of(flow)["actions"] if a["id"] == flow.finish.pk)["name"] == "Finish"


def test_drafts_are_per_person(client, flow):
    world = flow.world
    world.flow.memberships.filter(user=world.flow_member).update(can_edit=True)
    client.force_login(world.admin)
    client.post(f"{B}/actions/a{flow.finish.pk}", {"name": "Admin's"}, **HX)
    client.force_login(world.flow_member)
    assert 'data-unsaved="false"' in client.get(B).content.decode()


def test_swapping_two_names_saves(admin, flow):
    admin.get(B)
    admin.post(f"{B}/actions/a{flow.start.pk}", {"name": "Finish"}, **HX)
    admin.post(f"{B}/actions/a{flow.finish.pk}", {"name": "Start"}, **HX)
    response = admin.post(f"{B}/save", **HX)
    assert "Saved as version" in response.content.decode(), response.content.decode()
    assert Action.objects.get(pk=flow.start.pk).name == "Finish"
    assert Action.objects.get(pk=flow.finish.pk).name == "Start"


# --- steps ----------------------------------------------------------------------------------


def test_new_step_menu_lists_every_action_step_type(admin, flow):
    from actions.steps.base import step_types

    html = admin.get(f"{B}?action=a{flow.finish.pk}").content.decode()
    for step_type in step_types(context="action"):
        assert f'data-step-type="{step_type.type}"' in html
    assert "+ New Step" in html


@pytest.mark.parametrize(
    "type_name,expected",
    [
        ("api_call", 'name="config.url"'),
        ("move_to_stage", 'name="config.stage"'),
        ("assign_to", 'value="__performer__"'),
        ("update_data", 'name="config.fields[0].name"'),
        ("delete_task", "deletes the task"),
        ("schedule_stage_change", 'name="config.days"'),
        ("email_notification", 'name="config.to"'),
    ],
)
def test_every_step_type_has_a_form(admin, flow, type_name, expected):
    admin.get(B)
    response = admin.get(f"{B}/actions/a{flow.finish.pk}/steps/new/{type_name}", **HX)
    assert response.status_code == 200
    assert oob_ids(response) == ["modal-slot"]
    assert expected in response.content.decode()


def test_step_modal_works_without_javascript(admin, flow):
    html = admin.get(f"{B}/actions/a{flow.finish.pk}/steps/new/api_call").content.decode()
    assert "<html" in html and '<dialog class="step-modal"' in html and " open>" in html


def test_apply_api_call_then_save(admin, flow, receiver):
    admin.get(B)
    url = f"{B}/actions/a{flow.finish.pk}/steps/apply"
    form = api_call_form(receiver.url, headers=[("Authorization", "Bearer s3cret-token", False)])
    response = admin.post(url, form, **HX)
    assert response.status_code == 200
    assert oob_ids(response) == ["steps", "canvas", "savebar", "modal-slot"]
    html = response.content.decode()
    assert "API Call" in html and 'data-unsaved="true"' in html
    assert "s3cret" not in html
    draft = BuilderDraft.objects.get(flow=flow.flow, user=flow.world.admin)
    assert "s3cret-token" not in json.dumps(draft.data), "secrets are encrypted before they are stored"
    step = draft.data["actions"][1]["steps"][1]
    assert step["config"]["headers"][0]["secret"] is True

    edit = admin.get(f"{B}/actions/a{flow.finish.pk}/steps/{step['key']}", **HX).content.decode()
    assert "********" in edit and "s3cret" not in edit and receiver.url in edit

    admin.post(f"{B}/save", **HX)
    steps = list(Step.objects.filter(action=flow.finish).order_by("position"))
    assert [s.type for s in steps] == ["move_to_stage", "api_call"]
    assert "s3cret" not in json.dumps(steps[1].config)
    api = admin.get(f"/api/flows/acme/sales/actions/{flow.finish.pk}").json()
    header_id = api["steps"][1]["config"]["headers"][0]["id"]
    assert header_id and header_id == steps[1].config["headers"][0]["id"], "each header row gets a stable id"
    assert api["steps"][1]["config"]["headers"] == [
        {"id": header_id, "name": "Authorization", "value": "********", "secret": True}
    ]

    # Editing with the mask sent back keeps the stored secret.
    key = f"s{steps[1].pk}"
    form = api_call_form(receiver.url_for("/v2"), headers=[("Authorization", "********", True)], step_key=key)
    admin.post(url, form, **HX)
    admin.post(f"{B}/save", **HX)
    run = action_perform(action=flow.finish, task=flow.task, actor=flow.world.admin)
    from actions.engine import run_execute

    run = run_execute(run.pk)
    assert run.status == Run.Status.SUCCESS, run.errors
    assert receiver.requests[0].path == "/v2"
    assert receiver.requests[0].headers["Authorization"] == "Bearer s3cret-token"


def test_builder_matches_a_masked_secret_by_its_header_row_id(admin, flow, receiver):
    admin.get(B)
    url = f"{B}/actions/a{flow.finish.pk}/steps/apply"
    admin.post(url, api_call_form(receiver.url, headers=[("Authorization", "Bearer s3cret-token", False)]), **HX)
    step = draft_of(flow)["actions"][1]["steps"][1]
    header_id = step["config"]["headers"][0]["id"]
    edit = admin.get(f"{B}/actions/a{flow.finish.pk}/steps/{step['key']}", **HX).content.decode()
    assert f'name="config.headers[0].id" value="{header_id}"' in edit

    # Renamed, its value left masked: the row's id keeps its secret (a name match would not).
    form = api_call_form(receiver.url, headers=[("X-Renamed", "********", True)], step_key=step["key"])
    form["config.headers[0].id"] = header_id
    response = admin.post(url, form, **HX)
    assert oob_ids(response) == ["steps", "canvas", "savebar", "modal-slot"], response.content.decode()[:2000]
    headers = draft_of(flow)["actions"][1]["steps"][1]["config"]["headers"]
    assert [(h["id"], h["name"], h["secret"]) for h in headers] == [(header_id, "X-Renamed", True)]
    admin.post(f"{B}/save", **HX)
    from actions.engine import run_execute

    run = run_execute(action_perform(action=flow.finish, task=flow.task, actor=flow.world.admin).pk)
    assert run.status == Run.Status.SUCCESS, run.errors
    assert receiver.requests[0].headers["X-Renamed"] == "Bearer s3cret-token"

    # A masked value with an id no stored row has is refused, though a stored row has its name.
    saved = draft_of(flow)["actions"][1]["steps"][1]
    form = api_call_form(receiver.url, headers=[("X-Renamed", "********", True)], step_key=saved["key"])
    form["config.headers[0].id"] = "forged-id"
    response = admin.post(url, form, **HX)
    assert oob_ids(response) == ["step-form-errors"]
    assert 'data-error-for="config.headers[0].value"' in response.content.decode()


@pytest.mark.parametrize(
    "form,error_for,text",
    [
        (api_call_form(""), "config.url", "URL"),
        (api_call_form("ftp://example.com"), "config.url", "http:// or https://"),
        (
            api_call_form("https://example.com", headers=[("Host", "x", False)]),
            "config.headers[0].name",
            "Header 1 name",
        ),
        (
            api_call_form("https://example.com", headers=[("X-New", "********", True)]),
            "config.headers[0].value",
            "secret",
        ),
        ({"type": "move_to_stage", "config.stage": "Mars"}, "config.stage", "no stage named"),
        ({"type": "schedule_stage_change", "config.stage": "Completed", "config.days": "soon"}, "config.days", "Days"),
        (
            {"type": "email_notification", "config.to": "nobody", "config.subject": "s", "config.body": "b"},
            "config.to",
            "email",
        ),
        (
            {"type": "update_data", "config.fields[0].name": "Number of Employees", "config.fields[0].value": "many"},
            "config.fields[0].value",
            "Number of Employees",
        ),
    ],
)
def test_apply_errors_point_at_the_input(admin, flow, form, error_for, text):
    admin.get(B)
    response = admin.post(f"{B}/actions/a{flow.finish.pk}/steps/apply", form, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and oob_ids(response) == ["step-form-errors"]
    assert f'data-error-for="{error_for}"' in html and text in html
    assert len(draft_of(flow)["actions"][1]["steps"]) == 1, "nothing reaches the draft"


@pytest.mark.parametrize(
    "form,error_for",
    [
        # Rows added and removed in the page leave gaps and empty rows: the error names the input posted.
        (
            {
                **api_call_form("https://example.com"),
                "config.headers[0].name": "",
                "config.headers[0].value": "",
                "config.headers[2].name": "X-Ok",
                "config.headers[2].value": "1",
                "config.headers[5].name": "Host",
                "config.headers[5].value": "x",
            },
            "config.headers[5].name",
        ),
        (
            {
                "type": "update_field",
                "config.fields[1].name": "Company Name",
                "config.fields[1].value": "Acme",
                "config.fields[4].name": "Number of Employees",
                "config.fields[4].value": "many",
            },
            "config.fields[4].value",
        ),
        (
            {"type": "update_field", "config.fields[2].name": "Nope", "config.fields[2].value": "1"},
            "config.fields[2].name",
        ),
    ],
)
def test_apply_errors_name_the_row_as_posted(admin, flow, form, error_for):
    admin.get(B)
    response = admin.post(f"{B}/actions/a{flow.finish.pk}/steps/apply", form, **HX)
    assert oob_ids(response) == ["step-form-errors"]
    assert f'data-error-for="{error_for}"' in response.content.decode(), response.content.decode()


@pytest.mark.parametrize(
    "form,config",
    [
        ({"type": "move_to_stage", "config.stage": "Completed"}, {"stage": "Completed"}),
        ({"type": "assign_to", "config.email": "__performer__"}, {"performer": True}),
        ({"type": "assign_to", "config.email": "flowie@example.com"}, {"email": "flowie@example.com"}),
        ({"type": "assign_to", "config.email": ""}, {"email": None}),
        (
            {
                "type": "update_field",
                "config.fields[0].name": "International?",
                "config.fields[0].value": "true",
                "config.fields[3].name": "Company Name",
                "config.fields[3].value": "Acme",
            },
            {"fields": {"International?": True, "Company Name": "Acme"}},
        ),
        ({"type": "delete_task"}, {}),
        (
            {"type": "schedule_stage_change", "config.stage": "Completed", "config.days": "3"},
            {"stage": "Completed", "days": 3},
        ),
        (
            {"type": "send_email", "config.to": "assignee, a@example.com", "config.subject": "Hi", "config.body": "B"},
            {"to": ["owner", "a@example.com"], "subject": "Hi", "body": "B"},
        ),
    ],
)
def test_apply_each_step_type(admin, flow, form, config):
    admin.get(B)
    admin.post(f"{B}/actions/a{flow.finish.pk}/steps/apply", form, **HX)
    step = draft_of(flow)["actions"][1]["steps"][-1]
    assert (step["type"], step["config"]) == (form["type"], config)
    admin.post(f"{B}/save", **HX)
    saved = flow.finish.steps.order_by("position").last()
    assert (saved.type, saved.config) == (form["type"], config)


def test_reorder_and_delete_steps(admin, flow):
    admin.get(B)
    url = f"{B}/actions/a{flow.finish.pk}/steps/apply"
    admin.post(url, {"type": "assign_to", "config.email": "__performer__"}, **HX)
    admin.post(url, {"type": "delete_task"}, **HX)
    keys = [s["key"] for s in draft_of(flow)["actions"][1]["steps"]]
    response = admin.post(f"{B}/actions/a{flow.finish.pk}/steps/{keys[2]}/move", {"direction": "up"}, **HX)
    assert oob_ids(response) == ["steps", "canvas", "savebar"]
    assert [s["key"] for s in draft_of(flow)["actions"][1]["steps"]] == [keys[0], keys[2], keys[1]]
    admin.post(f"{B}/actions/a{flow.finish.pk}/steps/{keys[0]}/move", {"to": "2"}, **HX)
    assert [s["key"] for s in draft_of(flow)["actions"][1]["steps"]] == [keys[2], keys[1], keys[0]]
    admin.post(f"{B}/actions/a{flow.finish.pk}/steps/{keys[2]}/delete", **HX)
    admin.post(f"{B}/save", **HX)
    assert list(flow.finish.steps.order_by("position").values_list("type", flat=True)) == [
        "assign_to",
        "move_to_stage",
    ]


def test_canvas_follows_the_first_move_step(admin, flow):
    admin.get(B)
    admin.post(
        f"{B}/actions/a{flow.finish.pk}/steps/apply", {"type": "move_to_stage", "config.stage": "Not Started"}, **HX
    )
    draft = draft_of(flow)
    key = draft["actions"][1]["steps"][1]["key"]
    response = admin.post(f"{B}/actions/a{flow.finish.pk}/steps/{key}/move", {"direction": "up"}, **HX)
    layout = canvas_layout(stages=list(flow.flow.stages.all()), actions=draft_of(flow)["actions"])
    finish = next(c for c in layout["connectors"] if c["action"]["name"] == "Finish")
    assert finish["side"] == "above", "moving back to Not Started draws above the row"
    assert 'data-action="Finish"' in response.content.decode()


# --- save: validated as the API validates, errors next to what is wrong --------------------------


def test_save_maps_step_errors_to_the_step(admin, flow):
    admin.get(B)
    admin.post(f"{B}/actions/a{flow.finish.pk}/steps/apply", api_call_form("https://example.com/hook"), **HX)
    # A drafted step that no longer passes the rules (say, drafted before they changed) is caught at Save.
    draft = BuilderDraft.objects.get(flow=flow.flow, user=flow.world.admin)
    draft.data["actions"][1]["steps"][1]["config"]["url"] = "gopher://example.com"
    draft.save()
    before = flow_design_version(flow.flow)
    response = admin.post(f"{B}/save", **HX)
    html = response.content.decode()
    assert "Not saved: 1 action has errors" in html
    assert re.search(r'class="step has-error"[^>]*data-step-key="t\d+"', html)
    assert "URL: must be an http:// or https:// URL" in html
    assert flow_design_version(flow.flow) == before
    assert flow.finish.steps.count() == 1, "nothing was written"
    assert "has-error" in html and 'data-action="Finish"' in html


def test_save_refuses_every_bad_action_and_writes_nothing(admin, flow):
    admin.get(B)
    admin.post(f"{B}/actions/a{flow.start.pk}", {"name": ""}, **HX)
    admin.post(f"{B}/actions/new", **HX)
    key = draft_of(flow)["selected"]
    admin.post(f"{B}/actions/{key}", {"name": "Finish"}, **HX)
    response = admin.post(f"{B}/save", **HX)
    html = response.content.decode()
    assert "Not saved: 2 actions have errors" in html
    data = draft_of(flow)
    assert data["errors"][f"a{flow.start.pk}"]["action"] == {"name": ["This field is required."]}
    assert data["errors"][key]["action"] == {"name": ["An action with this name already exists in this flow."]}
    assert data["selected"] == f"a{flow.start.pk}"
    assert "<strong>Name</strong>: This field is required." in html
    assert Action.objects.get(pk=flow.start.pk).name == "Start" and Action.objects.count() == 2
    # Editing the action clears its old errors.
    response = admin.post(f"{B}/actions/a{flow.start.pk}", {"name": "Begin"}, **HX)
    assert "This field is required" not in response.content.decode()


def test_nothing_to_save(admin, flow):
    admin.get(B)
    assert "Nothing to save" in admin.post(f"{B}/save", **HX).content.decode()


def test_stale_draft_is_announced(admin, flow, api):
    admin.get(B)
    admin.post(f"{B}/actions/a{flow.finish.pk}", {"color": "#dc2626"}, **HX)
    api(flow.world.admin).put(f"/api/flows/acme/sales/actions/{flow.start.pk}", {"color": "#000000"}, format="json")
    html = admin.get(B).content.decode()
    assert "Someone saved version" in html
    admin.post(f"{B}/save", **HX)
    assert Action.objects.get(pk=flow.start.pk).color == "#000000", "untouched actions keep their new state"
    assert Action.objects.get(pk=flow.finish.pk).color == "#dc2626"


def test_without_htmx_posts_redirect_back(admin, flow):
    admin.get(B)
    response = admin.post(f"{B}/actions/a{flow.finish.pk}", {"name": "Done"})
    assert response.status_code == 302 and response["Location"].startswith(B)
    response = admin.post(f"{B}/save")
    assert response.status_code == 302
    assert Action.objects.get(pk=flow.finish.pk).name == "Done"


# --- stages ---------------------------------------------------------------------------------


def test_add_rename_move_and_delete_stages(admin, flow):
    admin.get(B)
    response = admin.post(f"{B}/stages/new", {"name": "Review"}, **HX)
    assert 'Stage "Review" added.' in text(response)
    review = Stage.objects.get(flow=flow.flow, name="Review")
    assert list(flow.flow.stages.values_list("name", flat=True)) == [
        "Not Started",
        "In Progress",
        "Completed",
        "Review",
    ]
    admin.post(f"{B}/stages/{review.pk}/move", {"direction": "left"}, **HX)
    assert list(flow.flow.stages.values_list("name", flat=True))[2] == "Review"
    admin.post(f"{B}/stages/{review.pk}", {"name": "QA"}, **HX)
    assert Stage.objects.get(pk=review.pk).name == "QA"
    response = admin.post(f"{B}/stages/{review.pk}/delete", **HX)
    assert 'Stage "QA" deleted.' in text(response)
    assert not Stage.objects.filter(pk=review.pk).exists()


def test_stage_errors_are_shown(admin, flow):
    response = admin.post(f"{B}/stages/new", {"name": "Completed"}, **HX)
    assert "already exists" in response.content.decode() and "canvas-flash flash-error" in response.content.decode()


def test_renaming_a_stage_renames_the_steps_that_name_it(admin, flow):
    admin.get(B)
    admin.post(f"{B}/actions/a{flow.start.pk}", {"color": "#dc2626"}, **HX)  # an unrelated unsaved change
    before = flow_design_version(flow.flow)
    admin.post(f"{B}/stages/{flow.completed.pk}", {"name": "Done"}, **HX)
    assert flow.finish.steps.get().config == {"stage": "Done"}
    assert flow_design_version(flow.flow) == before + 1
    data = draft_of(flow)
    assert data["actions"][1]["steps"][0]["config"] == {"stage": "Done"}
    from actions.builder import changed_keys

    assert changed_keys(data) == {f"a{flow.start.pk}"}, "the rename itself is no unsaved change"


def test_a_stage_in_use_cannot_be_deleted(admin, flow):
    response = admin.post(f"{B}/stages/{flow.completed.pk}/delete", **HX)
    assert 'Actions use "Completed": "Finish"' in text(response)
    assert Stage.objects.filter(pk=flow.completed.pk).exists()


def test_deleting_a_stage_with_tasks_moves_them(admin, flow):
    extra = Stage.objects.create(flow=flow.flow, name="Parked", position=9)
    task = task_create(flow=flow.flow, actor=flow.world.admin, data={"Stage": "Parked", "Company ID": "77"})
    response = admin.post(f"{B}/stages/{extra.pk}/delete", **HX)
    assert "move_to" in response.content.decode()
    response = admin.post(f"{B}/stages/{extra.pk}/delete", {"move_to": flow.not_started.pk}, **HX)
    assert "1 task moved" in response.content.decode()
    task.refresh_from_db()
    assert task.stage_id == flow.not_started.pk


def test_members_without_rights_cannot_change_stages(client, flow):
    client.force_login(flow.world.flow_member)
    assert client.post(f"{B}/stages/new", {"name": "X"}, **HX).status_code == 403
    assert client.post(f"{B}/stages/{flow.completed.pk}/delete", **HX).status_code == 403
    assert flow.flow.stages.count() == 3


# --- test request ----------------------------------------------------------------------------


def test_test_request_shows_the_answer_and_what_it_would_change(admin, flow, receiver):
    reply_json(receiver, {"task": {"Expected Close Date": "2020-02-01", "Company Name": "Acme Corp"}})
    admin.get(B)
    form = api_call_form(receiver.url, headers=[("Authorization", "Bearer t0ken-abc", False)])
    form["sample_task"] = str(flow.task.pk)
    response = admin.post(f"{B}/actions/a{flow.finish.pk}/steps/test-request", form, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and oob_ids(response) == ["test-result", "step-form-errors"]
    assert ">200<" in html and "application/json" in html
    assert "Expected Close Date" in html and "2020-01-31" in html and "2020-02-01" in html
    assert "Unchanged: Company Name" in html
    assert "t0ken-abc" not in html
    [request] = receiver.requests
    assert request.headers["Authorization"] == "Bearer t0ken-abc"
    assert_signed(request, secret=flow.flow.signing_secret)
    body = json.loads(request.body)
    assert body["action"] == "Finish" and body["user"]["email"] == "admin@example.com"
    assert body["task"]["Company ID"] == "42" and body["task"]["Expected Close Date"] == "2020-01-31"
    assert flow.task.data == type(flow.task).objects.get(pk=flow.task.pk).data, "a test changes nothing"


def test_test_request_uses_the_stored_secret(admin, flow, receiver):
    admin.get(B)
    url = f"{B}/actions/a{flow.finish.pk}/steps/apply"
    admin.post(url, api_call_form(receiver.url, headers=[("X-Api-Key", "k3y-value", True)]), **HX)
    key = draft_of(flow)["actions"][1]["steps"][1]["key"]
    form = api_call_form(receiver.url, headers=[("X-Api-Key", "********", True)], step_key=key)
    admin.post(f"{B}/actions/a{flow.finish.pk}/steps/test-request", form, **HX)
    assert receiver.requests[0].headers["X-Api-Key"] == "k3y-value"


def test_test_request_reports_invalid_task_answers(admin, flow, receiver):
    reply_json(receiver, {"task": {"Expected Close Date": "next week"}})
    form = api_call_form(receiver.url, sample_task=str(flow.task.pk))
    html = admin.post(f"{B}/actions/a{flow.finish.pk}/steps/test-request", form, **HX).content.decode()
    assert "would be refused" in html and "Expected Close Date" in html


def test_test_request_reports_non_2xx(admin, flow, receiver):
    receiver.set_response(status=500, body=b"boom")
    html = admin.post(
        f"{B}/actions/a{flow.finish.pk}/steps/test-request", api_call_form(receiver.url), **HX
    ).content.decode()
    assert ">500<" in html and "stops the action at this step" in html and "boom" in html


def test_test_request_with_a_sample_built_from_the_schema(admin, flow, receiver):
    reply_json(receiver, {"ok": True})
    page = text(
        admin.post(
            f"{B}/actions/a{flow.finish.pk}/steps/test-request", api_call_form(receiver.url, sample_task=""), **HX
        )
    )
    assert "a sample task built from the schema" in page and 'no "task" object' in page
    body = json.loads(receiver.requests[0].body)
    assert body["task"]["Stage"] == "In Progress" and "Expected Close Date" in body["task"]


def test_test_request_refuses_addresses_the_operator_did_not_allow(admin, flow, receiver, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    html = admin.post(
        f"{B}/actions/a{flow.finish.pk}/steps/test-request", api_call_form(receiver.url), **HX
    ).content.decode()
    # A literal address the policy refuses is refused with the step's form, before any request.
    assert 'data-error-for="config.url"' in html and "address 127.0.0.1 is not allowed (loopback)" in html
    assert receiver.requests == []


def test_test_request_validates_the_form_first(admin, flow):
    response = admin.post(f"{B}/actions/a{flow.finish.pk}/steps/test-request", api_call_form("nope"), **HX)
    assert oob_ids(response) == ["step-form-errors"] and 'data-error-for="config.url"' in response.content.decode()


def test_test_request_needs_edit_rights(client, flow, receiver):
    client.force_login(flow.world.flow_member)
    response = client.post(f"{B}/actions/a1/steps/test-request", api_call_form(receiver.url), **HX)
    assert response.status_code == 403 and receiver.requests == []


# --- versions --------------------------------------------------------------------------------


def test_every_write_records_a_version(flow, api):
    assert list(FlowVersion.objects.filter(flow=flow.flow).values_list("number", "summary")) == [
        (2, 'Created action "Finish"'),
        (1, 'Created action "Start"'),
    ]
    client = api(flow.world.admin)
    client.put(f"/api/flows/acme/sales/actions/{flow.finish.pk}", {"color": "#000000"}, format="json")
    client.delete(f"/api/flows/acme/sales/actions/{flow.start.pk}")
    latest = FlowVersion.objects.filter(flow=flow.flow).first()
    assert (latest.number, latest.summary, latest.source, latest.created_by) == (
        4,
        'Deleted action "Start"',
        "api",
        flow.world.admin,
    )
    assert [a["name"] for a in latest.snapshot["actions"]] == ["Finish"]
    assert [s["name"] for s in latest.snapshot["stages"]] == ["Not Started", "In Progress", "Completed"]
    run = action_perform(action=flow.finish, task=flow.task, actor=flow.world.admin)
    assert run.version == 4


def test_snapshots_keep_secrets_encrypted(flow, api):
    api(flow.world.admin).post(
        "/api/flows/acme/sales/actions",
        {
            "name": "Sync",
            "steps": [
                {
                    "type": "api_call",
                    "config": {"url": "https://example.com", "headers": {"Authorization": "Bearer pl4in"}},
                }
            ],
        },
        format="json",
    )
    assert "pl4in" not in json.dumps(FlowVersion.objects.filter(flow=flow.flow).first().snapshot)


def test_versions_page_lists_who_saved_what(admin, flow):
    admin.get(B)
    admin.post(f"{B}/actions/a{flow.finish.pk}", {"name": "Complete"}, **HX)
    admin.post(f"{B}/save", **HX)
    html = admin.get(f"{B}/versions").content.decode()
    assert "Version 3" in html and "current" in html and "Ada Admin" in html and "Flow Builder" in html
    assert "Renamed action &quot;Finish&quot; to &quot;Complete&quot;" in html
    assert "Restore version 2" in html and "Restore version 3" not in html


def test_restore_puts_an_earlier_design_back_as_a_new_version(admin, flow):
    admin.get(B)
    admin.post(f"{B}/actions/a{flow.finish.pk}/steps/apply", {"type": "assign_to", "config.email": ""}, **HX)
    admin.post(f"{B}/actions/a{flow.start.pk}/delete", **HX)
    admin.post(f"{B}/save", **HX)
    assert flow_design_version(flow.flow) == 3
    response = admin.post(f"{B}/versions/2/restore")
    assert response.status_code == 302
    assert flow_design_version(flow.flow) == 4
    latest = FlowVersion.objects.filter(flow=flow.flow).first()
    assert (latest.summary, latest.source) == ("Restored version 2", "restore")
    actions = {a.name: a for a in Action.objects.filter(flow=flow.flow)}
    assert set(actions) == {"Start", "Finish"}
    assert list(actions["Finish"].steps.values_list("type", flat=True)) == ["move_to_stage"]
    assert list(actions["Start"].from_stages.values_list("name", flat=True)) == ["Not Started"]
    assert "restored as version 4" in admin.get(f"{B}/versions").content.decode()


def test_restore_refuses_a_design_whose_stage_is_gone(admin, flow, api):
    Stage.objects.create(flow=flow.flow, name="Temp", position=5)
    api(flow.world.admin).post(
        "/api/flows/acme/sales/actions",
        {"name": "Park", "steps": [{"type": "move_to_stage", "config": {"stage": "Temp"}}]},
        format="json",
    )
    api(flow.world.admin).delete(f"/api/flows/acme/sales/actions/{Action.objects.get(name='Park').pk}")
    Stage.objects.filter(name="Temp").delete()
    number = flow_design_version(flow.flow)
    admin.post(f"{B}/versions/{number - 1}/restore")
    assert flow_design_version(flow.flow) == number
    html = admin.get(f"{B}/versions").content.decode()
    assert "cannot be restored" in html and "Temp" in html


def test_restore_needs_edit_rights(client, flow):
    client.force_login(flow.world.flow_member)
    assert client.post(f"{B}/versions/1/restore").status_code == 403
    assert flow_design_version(flow.flow) == 2


# --- the canvas ---------------------------------------------------------------------------------


def test_big_canvas_pills_never_overlap(world):
    """12 stages and 30 actions (forward, back, fan-in, from every stage, moving nowhere)."""
    stages = [Stage(pk=i + 1, flow=world.flow, name=f"Stage {i}", position=i) for i in range(12)]
    actions = []
    for i in range(30):
        src = (i * 5) % 12
        dst = [src + 1, (src + 4) % 12, max(0, src - 3), None, (src + 7) % 12][i % 5]
        steps = [{"type": "move_to_stage", "config": {"stage": f"Stage {dst}"}}] if dst is not None else []
        from_stages = [] if i % 9 == 0 else [src + 1] + ([((src + 2) % 12) + 1] if i % 4 == 0 else [])
        actions.append(
            {
                "key": f"n{i}",
                "name": f"Action number {i}",
                "color": "#2563eb",
                "from_stages": from_stages,
                "steps": steps,
            }
        )
    layout = canvas_layout(stages=stages, actions=actions)
    pills = [(c["pill_x"], c["pill_y"], c["pill_w"], 24) for c in layout["connectors"]]
    for i, a in enumerate(pills):
        for b in pills[i + 1 :]:
            assert a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1], (a, b)
    chips = sum(len(c["chips"]) for c in layout["columns"])
    drawn = {c["action"]["key"] for c in layout["connectors"]} | {
        chip["action"]["key"] for c in layout["columns"] for chip in c["chips"]
    }
    assert len(drawn) == 30 and chips >= 6
    assert layout["height"] < 1000, "lanes are packed"


def test_a_type_without_a_form_is_edited_as_json_in_the_builder(admin, flow):
    from actions.steps.base import StepConfigError, StepResult, StepType, register, unregister

    @register
    class Formless(StepType):
        type = "test_formless_action"
        label = "Formless"

        def validate(self, config, *, flow=None, organization=None, old=None):
            if not isinstance(config.get("n"), int):
                raise StepConfigError("n", "must be a whole number")
            return {"n": config["n"]}

        def execute(self, ctx, config):
            return StepResult()

    try:
        admin.get(B)
        modal = admin.get(f"{B}/actions/a{flow.finish.pk}/steps/new/test_formless_action", **HX).content.decode()
        assert '<textarea name="config"' in modal
        url = f"{B}/actions/a{flow.finish.pk}/steps/apply"
        response = admin.post(url, {"type": "test_formless_action", "config": "{not json"}, **HX)
        assert 'data-error-for="config"' in response.content.decode() and "not valid JSON" in text(response)
        response = admin.post(url, {"type": "test_formless_action", "config": '{"n": "x"}'}, **HX)
        assert 'data-error-for="config"' in response.content.decode() and "whole number" in text(response)
        admin.post(url, {"type": "test_formless_action", "config": '{"n": 3}'}, **HX)
        step = draft_of(flow)["actions"][1]["steps"][-1]
        assert (step["type"], step["config"]) == ("test_formless_action", {"n": 3})
        edit = admin.get(f"{B}/actions/a{flow.finish.pk}/steps/{step['key']}", **HX)
        assert "&quot;n&quot;: 3" in edit.content.decode()
    finally:
        unregister(Formless)
