"""Stages and fields: the flow's schema API."""

import pytest
from rest_framework.test import APIClient

from flows.models import Field, Stage
from tasks.models import Task, TaskEvent
from tests.factories import FieldFactory, UserFactory, add_flow_member, add_org_member, make_task

pytestmark = pytest.mark.django_db

FLOW = "/api/flows/acme/sales"
T = Field.Type


@pytest.fixture
def editor(world):
    user = UserFactory(email="editor@example.com", first_name="Eddie", last_name="Tor", nick="ed")
    add_org_member(world.org, user)
    add_flow_member(world.flow, user, can_edit=True)
    return user


def names(response) -> list[str]:
    return [item["name"] for item in response.json()]


# --- access ------------------------------------------------------------------------------------


def _requests(world):
    stage = world.flow.stages.first()
    field = FieldFactory(flow=world.flow, name="Title")
    return [
        ("get", f"{FLOW}/stages", None),
        ("post", f"{FLOW}/stages", {"name": "Review"}),
        ("put", f"{FLOW}/stages/{stage.pk}", {"color": "#123456"}),
        ("get", f"{FLOW}/fields", None),
        ("post", f"{FLOW}/fields", {"name": "Amount", "type": "number"}),
        ("put", f"{FLOW}/fields/{field.pk}", {"required": True}),
        ("delete", f"{FLOW}/fields/{field.pk}", None),
        ("delete", f"{FLOW}/stages/{stage.pk}", None),
    ]


@pytest.mark.parametrize(
    "who, read, write",
    [
        ("admin", 200, None),
        ("editor", 200, None),
        ("flow_member", 200, 403),
        ("member", 404, 404),
        ("outsider", 404, 404),
    ],
)
def test_access_matrix(world, api, editor, who, read, write):
    user = editor if who == "editor" else getattr(world, who)
    client = api(user)
    for method, url, body in _requests(world):
        response = getattr(client, method)(url, body, format="json")
        if method == "get":
            assert response.status_code == read, (method, url)
        elif write is None:
            assert response.status_code in (200, 201, 204), (method, url, response.json())
        else:
            assert response.status_code == write, (method, url)


def test_schema_needs_authentication(world):
    for method in ("get", "post"):
        assert getattr(APIClient(), method)(f"{FLOW}/stages").status_code in (401, 403)
        assert getattr(APIClient(), method)(f"{FLOW}/fields").status_code in (401, 403)
    assert Stage.objects.filter(flow=world.flow).count() == 3


# --- stages ------------------------------------------------------------------------------------


def test_new_flows_have_three_stages(world, api):
    response = api(world.flow_member).get(f"{FLOW}/stages")
    assert response.status_code == 200
    assert response.json()[2] == {
        "id": response.json()[2]["id"],
        "name": "Done",
        "color": "#16a34a",
        "position": 2,
        "end_stage": True,
        "outcome": "",
    }
    assert names(response) == ["To Do", "In Progress", "Done"]
    assert response["Flowdock-User"] == str(world.flow_member.pk)


def test_create_stage_appends_or_inserts(world, api):
    client = api(world.admin)
    response = client.post(f"{FLOW}/stages", {"name": "Lost", "end_stage": True, "outcome": "lost"}, format="json")
    assert response.status_code == 201
    assert response.json()["position"] == 3 and response.json()["outcome"] == "lost"
    response = client.post(f"{FLOW}/stages", {"name": "Inbox", "position": 0, "color": "#ABC"}, format="json")
    assert response.json()["position"] == 0 and response.json()["color"] == "#abc"
    listed = client.get(f"{FLOW}/stages").json()
    assert [s["name"] for s in listed] == ["Inbox", "To Do", "In Progress", "Done", "Lost"]
    assert [s["position"] for s in listed] == [0, 1, 2, 3, 4]


def test_move_stage_reorders_the_others(world, api):
    client = api(world.admin)
    done = Stage.objects.get(flow=world.flow, name="Done")
    response = client.put(f"{FLOW}/stages/{done.pk}", {"position": 0, "name": "Finished"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Finished"
    listed = client.get(f"{FLOW}/stages").json()
    assert [(s["name"], s["position"]) for s in listed] == [("Finished", 0), ("To Do", 1), ("In Progress", 2)]
    response = client.put(f"{FLOW}/stages/{done.pk}", {"position": 99}, format="json")
    assert response.json()["position"] == 2


@pytest.mark.parametrize(
    "body, errors",
    [
        ({"name": "x" * 101}, {"name": ["Ensure this field has no more than 100 characters."]}),
        ({"name": "to do"}, {"name": ["A stage with this name already exists in this flow."]}),
        ({"name": ""}, {"name": ["This field is required."]}),
        ({}, {"name": ["This field is required."]}),
        ({"name": "A\r\nB"}, {"name": ["Must be one line without control characters."]}),
        ({"name": "Won", "outcome": "won"}, {"outcome": ["Only an end stage has an outcome."]}),
        ({"name": "Won", "outcome": "maybe", "end_stage": True}, {"outcome": None}),
        ({"name": "Red", "color": "red"}, {"color": ["Must be a colour such as #2563eb."]}),
        ({"name": "P", "position": -1}, {"position": ["Must be a whole number of 0 or more."]}),
        ({"name": "E", "end_stage": "yes"}, {"end_stage": ["Must be a boolean."]}),
        ({"name": "U", "colour": "#fff"}, {"colour": ["Unknown field."]}),
    ],
)
def test_stage_bad_input_is_400(world, api, body, errors):
    response = api(world.admin).post(f"{FLOW}/stages", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "Validation error"
    assert set(response.json()["errors"]) == set(errors)
    for key, reasons in errors.items():
        if reasons is not None:
            assert response.json()["errors"][key] == reasons
    assert Stage.objects.filter(flow=world.flow).count() == 3


def test_trailing_line_breaks_are_trimmed(world, api):
    response = api(world.admin).post(f"{FLOW}/stages", {"name": " Review\r\n"}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == "Review"


@pytest.mark.parametrize("body", [["name"], "Review", 3])
def test_non_object_bodies_are_400(world, api, body):
    client = api(world.admin)
    stage = world.flow.stages.first()
    assert client.post(f"{FLOW}/stages", body, format="json").status_code == 400
    assert client.put(f"{FLOW}/stages/{stage.pk}", body, format="json").status_code == 400
    assert client.post(f"{FLOW}/fields", body, format="json").status_code == 400


def test_renaming_a_stage_keeps_case_insensitive_uniqueness(world, api):
    client = api(world.admin)
    todo = Stage.objects.get(flow=world.flow, name="To Do")
    assert client.put(f"{FLOW}/stages/{todo.pk}", {"name": "TO DO"}, format="json").status_code == 200
    response = client.put(f"{FLOW}/stages/{todo.pk}", {"name": "done"}, format="json")
    assert response.status_code == 400
    assert client.put(f"{FLOW}/stages/999999", {"name": "x"}, format="json").status_code == 404


def test_delete_stage_with_tasks_is_refused_until_they_move(world, api, django_capture_on_commit_callbacks):
    client = api(world.admin)
    todo = Stage.objects.get(flow=world.flow, name="To Do")
    doing = Stage.objects.get(flow=world.flow, name="In Progress")
    make_task(world.flow, world.admin)
    make_task(world.flow, world.admin)
    response = client.delete(f"{FLOW}/stages/{todo.pk}")
    assert response.status_code == 400
    assert response.json()["errors"] == {"stage": ['"To Do" holds 2 tasks; name a stage to move them to with move_to.']}
    assert client.delete(f"{FLOW}/stages/{todo.pk}?move_to={todo.pk}").status_code == 400
    assert client.delete(f"{FLOW}/stages/{todo.pk}?move_to=999999").status_code == 400

    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"{FLOW}/stages/{todo.pk}?move_to={doing.pk}")
    assert response.status_code == 204
    assert set(Task.objects.values_list("stage__name", flat=True)) == {"In Progress"}
    events = TaskEvent.objects.filter(kind="updated")
    assert [e.changes for e in events] == [{"Stage": ["To Do", "In Progress"]}] * 2
    listed = client.get(f"{FLOW}/stages").json()
    assert [(s["name"], s["position"]) for s in listed] == [("In Progress", 0), ("Done", 1)]


def test_delete_stage_move_to_in_the_body(world, api):
    client = api(world.admin)
    todo = Stage.objects.get(flow=world.flow, name="To Do")
    done = Stage.objects.get(flow=world.flow, name="Done")
    make_task(world.flow, world.admin)
    response = client.delete(f"{FLOW}/stages/{todo.pk}", {"move_to": done.pk}, format="json")
    assert response.status_code == 204
    assert Task.objects.get().stage == done


def test_a_flow_keeps_at_least_one_stage(world, api):
    client = api(world.admin)
    stages = list(Stage.objects.filter(flow=world.flow))
    assert client.delete(f"{FLOW}/stages/{stages[0].pk}").status_code == 204
    assert client.delete(f"{FLOW}/stages/{stages[1].pk}").status_code == 204
    response = client.delete(f"{FLOW}/stages/{stages[2].pk}")
    assert response.status_code == 400
    assert "at least one stage" in response.json()["errors"]["stage"][0]


# --- fields ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", T.values)
def test_create_every_field_type(world, api, kind):
    body = {"name": f"The {kind}", "type": kind}
    if kind in (T.SINGLE_SELECT, T.MULTIPLE_SELECT):
        body["options"] = ["A", "B"]
    response = api(world.admin).post(f"{FLOW}/fields", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data == {
        "id": data["id"],
        "name": f"The {kind}",
        "type": kind,
        "required": False,
        "editable": kind != T.UNIQUE_ID,
        "options": body.get("options", []),
        "unique": kind == T.UNIQUE_ID,
        "position": 0,
    }


def test_fields_are_listed_by_position(world, api):
    client = api(world.admin)
    client.post(f"{FLOW}/fields", {"name": "B", "type": "text"}, format="json")
    client.post(f"{FLOW}/fields", {"name": "C", "type": "text"}, format="json")
    a = client.post(f"{FLOW}/fields", {"name": "A", "type": "text", "position": 0}, format="json").json()
    assert names(client.get(f"{FLOW}/fields")) == ["A", "B", "C"]
    client.put(f"{FLOW}/fields/{a['id']}", {"position": 2}, format="json")
    listed = client.get(f"{FLOW}/fields").json()
    assert [(f["name"], f["position"]) for f in listed] == [("B", 0), ("C", 1), ("A", 2)]


@pytest.mark.parametrize(
    "body, key, reason",
    [
        ({"name": "x" * 101, "type": "text"}, "name", "Ensure this field has no more than 100 characters."),
        ({"name": "TITLE", "type": "text"}, "name", "A field with this name already exists in this flow."),
        ({"name": "Stage", "type": "text"}, "name", '"Stage" is a built-in name of the task; choose another.'),
        ({"name": "assigned to", "type": "text"}, "name", None),
        ({"name": "Task URL", "type": "text"}, "name", None),
        ({"name": "Tags", "type": "text"}, "name", None),
        ({"name": "id", "type": "text"}, "name", None),
        ({"name": "Line\nbreak", "type": "text"}, "name", "Must be one line without control characters."),
        ({"name": "X", "type": "string"}, "type", None),
        ({"name": "X"}, "type", None),
        ({"name": "X", "type": "singleSelect"}, "options", "A select field needs at least one option."),
        (
            {"name": "X", "type": "multipleSelect", "options": []},
            "options",
            "A select field needs at least one option.",
        ),
        ({"name": "X", "type": "singleSelect", "options": ["A", "a"]}, "options", '"a" is listed twice.'),
        ({"name": "X", "type": "singleSelect", "options": "A,B"}, "options", "Must be a list of strings."),
        ({"name": "X", "type": "singleSelect", "options": [""]}, "options", None),
        ({"name": "X", "type": "text", "options": ["A"]}, "options", None),
        ({"name": "X", "type": "checkbox", "unique": True}, "unique", None),
        ({"name": "X", "type": "uniqueId", "editable": True}, "editable", None),
        ({"name": "X", "type": "text", "required": "yes"}, "required", "Must be a boolean."),
    ],
)
def test_field_bad_input_is_400(world, api, body, key, reason):
    FieldFactory(flow=world.flow, name="Title")
    response = api(world.admin).post(f"{FLOW}/fields", body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["message"] == "Validation error"
    assert key in response.json()["errors"]
    if reason:
        assert response.json()["errors"][key] == [reason]
    assert Field.objects.filter(flow=world.flow).count() == 1


def test_at_most_one_unique_field(world, api):
    client = api(world.admin)
    assert (
        client.post(f"{FLOW}/fields", {"name": "Code", "type": "text", "unique": True}, format="json").status_code
        == 201
    )
    for body in ({"name": "Other", "type": "email", "unique": True}, {"name": "Number", "type": "uniqueId"}):
        response = client.post(f"{FLOW}/fields", body, format="json")
        assert response.status_code == 400
        assert response.json()["errors"]["unique"] == [
            '"Code" is already this flow\'s unique key; a flow has at most one.'
        ]


def test_a_new_unique_id_field_numbers_existing_tasks(world, api):
    first = make_task(world.flow, world.admin)
    second = make_task(world.flow, world.admin)
    client = api(world.admin)
    response = client.post(f"{FLOW}/fields", {"name": "Number", "type": "uniqueId"}, format="json")
    assert response.status_code == 201
    assert client.get(f"{FLOW}/tasks/1").json()["id"] == first.pk
    assert client.get(f"{FLOW}/tasks/2").json()["id"] == second.pk
    assert client.post(f"{FLOW}/tasks", {}, format="json").json()["Number"] == "3"


def test_type_change_converts_what_converts(world, api):
    field = FieldFactory(flow=world.flow, name="Size", type=T.NUMBER)
    task = make_task(world.flow, world.admin, {"Size": 42})
    client = api(world.admin)
    response = client.put(f"{FLOW}/fields/{field.pk}", {"type": "text"}, format="json")
    assert response.status_code == 200
    assert client.get(f"{FLOW}/tasks/{task.pk}").json()["Size"] == "42"
    assert client.put(f"{FLOW}/fields/{field.pk}", {"type": "number"}, format="json").status_code == 200
    assert client.get(f"{FLOW}/tasks/{task.pk}").json()["Size"] == "42"


def test_type_change_that_loses_values_needs_confirmation(world, api, django_capture_on_commit_callbacks):
    field = FieldFactory(flow=world.flow, name="Size")
    keep = make_task(world.flow, world.admin, {"Size": " 42 "})
    lose = [make_task(world.flow, world.admin, {"Size": v}) for v in ("big", "small", "huge")]
    client = api(world.admin)
    response = client.put(f"{FLOW}/fields/{field.pk}", {"type": "number"}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["message"] == "Validation error"
    assert body["lost"] == 3
    assert body["errors"]["type"][0].startswith(
        "3 tasks have values that cannot be converted to number and would be cleared: "
        f'"big" (task {lose[0].pk}), "small" (task {lose[1].pk})'
    )
    assert Field.objects.get(pk=field.pk).type == "text"
    assert client.get(f"{FLOW}/tasks/{lose[0].pk}").json()["Size"] == "big"

    with django_capture_on_commit_callbacks(execute=True):
        response = client.put(f"{FLOW}/fields/{field.pk}?confirm=1", {"type": "number"}, format="json")
    assert response.status_code == 200
    assert client.get(f"{FLOW}/tasks/{keep.pk}").json()["Size"] == "42"
    assert client.get(f"{FLOW}/tasks/{lose[0].pk}").json()["Size"] is None
    events = {e.task_ref: e.changes for e in TaskEvent.objects.filter(kind="updated")}
    assert events[lose[0].pk] == {"Size": ["big", None]}
    assert events[keep.pk] == {"Size": [" 42 ", "42"]}


def test_confirm_in_the_body(world, api):
    field = FieldFactory(flow=world.flow, name="Flag", type=T.TEXT)
    make_task(world.flow, world.admin, {"Flag": "maybe"})
    response = api(world.admin).put(f"{FLOW}/fields/{field.pk}", {"type": "checkbox", "confirm": True}, format="json")
    assert response.status_code == 200
    assert Task.objects.get().data == {}


def test_removing_an_option_in_use_needs_confirmation(world, api):
    field = FieldFactory(flow=world.flow, name="Size", type=T.SINGLE_SELECT, options=["S", "M", "L"])
    make_task(world.flow, world.admin, {"Size": "M"})
    make_task(world.flow, world.admin, {"Size": "S"})
    client = api(world.admin)
    response = client.put(f"{FLOW}/fields/{field.pk}", {"options": ["S", "L"]}, format="json")
    assert response.status_code == 409
    assert response.json()["lost"] == 1
    assert "no longer among the options" in response.json()["errors"]["options"][0]
    # Renaming the case of an option rewrites the values to match.
    assert client.put(f"{FLOW}/fields/{field.pk}", {"options": ["s", "M", "L"]}, format="json").status_code == 200
    assert sorted(client.get(f"{FLOW}/tasks?Size=s").json()[0]["Size"]) == ["s"]


def test_select_to_multiple_select_keeps_values(world, api):
    field = FieldFactory(flow=world.flow, name="Size", type=T.SINGLE_SELECT, options=["S", "M"])
    task = make_task(world.flow, world.admin, {"Size": "M"})
    client = api(world.admin)
    assert client.put(f"{FLOW}/fields/{field.pk}", {"type": "multipleSelect"}, format="json").status_code == 200
    assert client.get(f"{FLOW}/tasks/{task.pk}").json()["Size"] == ["M"]
    assert client.put(f"{FLOW}/fields/{field.pk}", {"type": "text"}, format="json").status_code == 200
    assert client.get(f"{FLOW}/tasks/{task.pk}").json()["Size"] == "M"
    assert Field.objects.get(pk=field.pk).options == []


def test_delete_field_with_values_needs_confirmation(world, api, django_capture_on_commit_callbacks):
    field = FieldFactory(flow=world.flow, name="Notes")
    FieldFactory(flow=world.flow, name="Other")
    task = make_task(world.flow, world.admin, {"Notes": "keep me"})
    client = api(world.admin)
    response = client.delete(f"{FLOW}/fields/{field.pk}")
    assert response.status_code == 409
    assert response.json()["lost"] == 1
    assert response.json()["errors"]["field"] == [
        f'1 task has values in "Notes" that would be deleted: "keep me" (task {task.pk})'
    ]
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"{FLOW}/fields/{field.pk}?confirm=1").status_code == 204
    assert Task.objects.get().data == {}
    assert TaskEvent.objects.latest("id").changes == {"Notes": ["keep me", None]}
    assert [(f["name"], f["position"]) for f in client.get(f"{FLOW}/fields").json()] == [("Other", 0)]


def test_delete_an_empty_field_needs_no_confirmation(world, api):
    field = FieldFactory(flow=world.flow, name="Notes")
    make_task(world.flow, world.admin)
    assert api(world.admin).delete(f"{FLOW}/fields/{field.pk}").status_code == 204


def test_making_a_field_unique_checks_collisions_and_sets_keys(world, api):
    field = FieldFactory(flow=world.flow, name="Code")
    a = make_task(world.flow, world.admin, {"Code": "A"})
    b = make_task(world.flow, world.admin, {"Code": "A"})
    client = api(world.admin)
    response = client.put(f"{FLOW}/fields/{field.pk}", {"unique": True}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["unique"] == [
        f"Tasks {a.pk} and {b.pk} share the value 'A'; values must be unique before this field can be the unique key."
    ]
    client.patch(f"{FLOW}/tasks/{b.pk}", {"Code": "B"}, format="json")
    assert client.put(f"{FLOW}/fields/{field.pk}", {"unique": True}, format="json").status_code == 200
    assert dict(Task.objects.values_list("pk", "key")) == {a.pk: "A", b.pk: "B"}
    assert client.get(f"{FLOW}/tasks/B").json()["id"] == b.pk

    assert client.put(f"{FLOW}/fields/{field.pk}", {"unique": False}, format="json").status_code == 200
    assert set(Task.objects.values_list("key", flat=True)) == {""}
    assert client.get(f"{FLOW}/tasks/{b.pk}").json()["Code"] == "B"


def test_converting_the_unique_key_recomputes_keys(world, api):
    field = FieldFactory(flow=world.flow, name="Code", unique=True)
    make_task(world.flow, world.admin, {"Code": "007"})
    make_task(world.flow, world.admin, {"Code": "7"})
    client = api(world.admin)
    response = client.put(f"{FLOW}/fields/{field.pk}", {"type": "number"}, format="json")
    assert response.status_code == 400  # "007" and "7" both become 7
    Task.objects.filter(key="7").delete()
    assert client.put(f"{FLOW}/fields/{field.pk}", {"type": "number"}, format="json").status_code == 200
    assert list(Task.objects.values_list("key", flat=True)) == ["7"]


def test_unique_id_cannot_be_converted(world, api):
    field = FieldFactory(flow=world.flow, name="Number", type=T.UNIQUE_ID, unique=True, editable=False)
    response = api(world.admin).put(f"{FLOW}/fields/{field.pk}", {"type": "number"}, format="json")
    assert response.status_code == 400
    assert "type" in response.json()["errors"]
    response = api(world.admin).put(f"{FLOW}/fields/{field.pk}", {"unique": False}, format="json")
    assert response.status_code == 400


def test_field_put_is_partial_and_404_for_other_flows(world, api):
    field = FieldFactory(flow=world.flow, name="Title")
    client = api(world.admin)
    response = client.put(f"{FLOW}/fields/{field.pk}", {"required": True, "name": "Headline"}, format="json")
    assert response.json()["type"] == "text" and response.json()["required"] is True
    assert response.json()["name"] == "Headline"
    assert client.put(f"{FLOW}/fields/999999", {"required": True}, format="json").status_code == 404
