"""The schema page: stages and fields through the tasks.schema services, the 409 confirmation, permissions."""

import pytest

from flows.models import Field, Stage
from tasks.models import Task
from tests.factories import FieldFactory, add_flow_member, make_task

pytestmark = pytest.mark.django_db

URL = "/flows/acme/sales/schema"
HX = {"HTTP_HX_REQUEST": "true"}


def stages(world) -> list[str]:
    return list(Stage.objects.filter(flow=world.flow).order_by("position").values_list("name", flat=True))


def fields(world) -> list[str]:
    return list(Field.objects.filter(flow=world.flow).order_by("position").values_list("name", flat=True))


@pytest.fixture
def editor(world, client):
    client.force_login(world.admin)
    return client


def test_schema_page_lists_stages_and_fields(world, editor):
    FieldFactory(flow=world.flow, name="Company", type="text")
    html = editor.get(URL).content.decode()
    assert "To Do" in html and "In Progress" in html and "Company" in html
    assert 'name="op" value="stage_create"' in html and 'name="op" value="field_create"' in html


def test_stage_crud_and_reorder(world, editor):
    response = editor.post(URL, {"op": "stage_create", "name": "Review", "color": "#ff0000"})
    assert response.status_code == 302
    review = Stage.objects.get(flow=world.flow, name="Review")
    assert review.color == "#ff0000" and stages(world)[-1] == "Review"

    html = editor.post(URL, {"op": "stage_move", "stage_id": review.pk, "direction": "up"}, **HX).content.decode()
    assert stages(world) == ["To Do", "In Progress", "Review", "Done"]
    assert "<html" not in html and 'id="schema-body"' in html and "moved" in html

    editor.post(
        URL,
        {
            "op": "stage_update",
            "stage_id": review.pk,
            "name": "Won",
            "color": "#00aa00",
            "end_stage": "on",
            "outcome": "won",
        },
    )
    review.refresh_from_db()
    assert (review.name, review.color, review.end_stage, review.outcome) == ("Won", "#00aa00", True, "won")

    editor.post(URL, {"op": "stage_move", "stage_id": review.pk, "direction": "down"})
    assert stages(world) == ["To Do", "In Progress", "Done", "Won"]

    editor.post(URL, {"op": "stage_delete", "stage_id": review.pk})
    assert "Won" not in stages(world)


def test_stage_errors_show_next_to_the_form(world, editor):
    response = editor.post(URL, {"op": "stage_create", "name": "to do", "color": "#123456"})
    html = response.content.decode()
    assert response.status_code == 422 and "already exists" in html
    assert 'value="to do"' in html  # what was typed stays
    todo = Stage.objects.get(flow=world.flow, name="To Do")
    response = editor.post(
        URL, {"op": "stage_update", "stage_id": todo.pk, "name": "To Do", "color": "#123456", "outcome": "won"}, **HX
    )
    html = response.content.decode()
    assert response.status_code == 200 and "Only an end stage has an outcome." in html
    assert f'id="stage-{todo.pk}"' in html and "<details open>" in html


def test_deleting_a_stage_that_holds_tasks_moves_them(world, editor):
    FieldFactory(flow=world.flow, name="Title", type="text")
    task = make_task(world.flow, world.admin, {"Title": "T", "Stage": "In Progress"})
    in_progress = Stage.objects.get(flow=world.flow, name="In Progress")
    done = Stage.objects.get(flow=world.flow, name="Done")
    html = editor.get(URL).content.decode()
    assert "Move its 1 task to" in html

    response = editor.post(URL, {"op": "stage_delete", "stage_id": in_progress.pk})
    assert response.status_code == 422 and "holds 1 task" in response.content.decode()

    editor.post(URL, {"op": "stage_delete", "stage_id": in_progress.pk, "move_to": done.pk})
    task.refresh_from_db()
    assert task.stage_id == done.pk and "In Progress" not in stages(world)
    assert task.events.last().changes == {"Stage": ["In Progress", "Done"]}


def test_field_crud_and_reorder(world, editor):
    editor.post(URL, {"op": "field_create", "name": "Company", "type": "text", "required": "on", "editable": "on"})
    editor.post(URL, {"op": "field_create", "name": "Size", "type": "singleSelect", "options": "S\nM\r\nL\n"})
    editor.post(URL, {"op": "field_create", "name": "Ref", "type": "uniqueId"})
    company, size, ref = (Field.objects.get(flow=world.flow, name=n) for n in ("Company", "Size", "Ref"))
    assert company.required and company.editable and company.type == "text"
    assert size.options == ["S", "M", "L"] and not size.editable
    assert ref.unique and not ref.editable
    assert fields(world) == ["Company", "Size", "Ref"]

    editor.post(URL, {"op": "field_move", "field_id": ref.pk, "direction": "up"})
    assert fields(world) == ["Company", "Ref", "Size"]

    update = {"op": "field_update", "field_id": company.pk, "name": "Company Name", "type": "text", "editable": "on"}
    response = editor.post(URL, {**update, "unique": "on"}, **HX)
    html = response.content.decode()
    assert "already this flow&#x27;s unique key" in html and 'value="Company Name"' in html
    response = editor.post(URL, update, **HX)
    assert "Field “Company Name” saved." in response.content.decode()
    company.refresh_from_db()
    assert company.name == "Company Name" and not company.required and not company.unique

    response = editor.post(URL, {"op": "field_create", "name": "Stage", "type": "text"})
    assert response.status_code == 422 and "built-in name" in response.content.decode()
    response = editor.post(URL, {"op": "field_create", "name": "Pick", "type": "multipleSelect", "options": ""}, **HX)
    html = response.content.decode()
    assert "needs at least one option" in html and 'value="Pick"' in html

    editor.post(URL, {"op": "field_delete", "field_id": size.pk})
    assert fields(world) == ["Company Name", "Ref"]


def test_lossy_type_change_asks_to_confirm(world, editor):
    employees = FieldFactory(flow=world.flow, name="Employees", type="text")
    for value in ("12", "many", "a few", "7"):
        make_task(world.flow, world.admin, {"Employees": value})
    data = {"op": "field_update", "field_id": employees.pk, "name": "Employees", "type": "number", "editable": "on"}

    response = editor.post(URL, data)
    html = response.content.decode()
    assert response.status_code == 409
    assert "2 tasks have values that cannot be converted to number and would be cleared" in html
    assert 'name="confirm" value="1"' in html and 'name="type" value="number"' in html
    employees.refresh_from_db()
    assert employees.type == "text"

    response = editor.post(URL, data, **HX)
    assert response.status_code == 200 and "would be cleared" in response.content.decode()

    response = editor.post(URL, {**data, "confirm": "1"})
    assert response.status_code == 302
    employees.refresh_from_db()
    assert employees.type == "number"
    values = sorted(str(t.data.get(str(employees.pk))) for t in Task.objects.filter(flow=world.flow))
    assert values == ["12", "7", "None", "None"]


def test_options_change_and_field_delete_ask_to_confirm(world, editor):
    size = FieldFactory(flow=world.flow, name="Size", type="singleSelect", options=["S", "M", "L"])
    make_task(world.flow, world.admin, {"Size": "L"})
    data = {
        "op": "field_update",
        "field_id": size.pk,
        "name": "Size",
        "type": "singleSelect",
        "options": "S\nM",
        "editable": "on",
    }
    html = editor.post(URL, data, **HX).content.decode()
    assert "1 task has values that are no longer among the options and would be cleared" in html
    assert 'name="options" value="S\nM"' in html

    delete = {"op": "field_delete", "field_id": size.pk}
    response = editor.post(URL, delete)
    assert response.status_code == 409 and "would be deleted" in response.content.decode()
    assert Field.objects.filter(pk=size.pk).exists()
    editor.post(URL, {**delete, "confirm": "1"})
    assert not Field.objects.filter(pk=size.pk).exists()


def test_plain_member_gets_a_read_only_page_and_403(world, client):
    add_flow_member(world.flow, world.member)
    client.force_login(world.member)
    response = client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200 and "To Do" in html and "Read-only" in html
    assert 'name="op"' not in html
    assert client.post(URL, {"op": "stage_create", "name": "Sneaky"}).status_code == 403
    assert client.post(URL, {"op": "stage_create", "name": "Sneaky"}, **HX).status_code == 403
    assert "Sneaky" not in stages(world)


def test_member_allowed_to_edit_may_change_the_schema(world, client):
    add_flow_member(world.flow, world.member, can_edit=True)
    client.force_login(world.member)
    assert 'name="op" value="stage_create"' in client.get(URL).content.decode()
    assert client.post(URL, {"op": "stage_create", "name": "Review"}).status_code == 302
    assert "Review" in stages(world)


@pytest.mark.parametrize("who", ["member", "outsider"])
def test_outsiders_get_404(world, client, who):
    client.force_login(getattr(world, who))
    assert client.get(URL).status_code == 404
    assert client.post(URL, {"op": "stage_create", "name": "X"}).status_code == 404


def test_unknown_operation_is_a_bad_request(world, editor):
    assert editor.post(URL, {"op": "drop_table"}).status_code == 400


def test_schema_page_needs_login(world, client):
    assert client.get(URL).status_code == 302
