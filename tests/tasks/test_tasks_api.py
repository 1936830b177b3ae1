import pytest
from rest_framework.test import APIClient

from flows.models import Field, Stage
from tasks.models import Task, TaskEvent
from tests.factories import FieldFactory, make_task
from tests.tasks.conftest import SALES

pytestmark = pytest.mark.django_db

SEED_TASK = {
    "Stage": "In Progress",
    "Assigned To": "flowie@example.com",
    "Company Name": "Acme Corp",
    "Number of Employees": "20",
    "Contract Value": "10000",
    "International?": False,
    "Expected Close Date": "2020-01-31",
}


def test_create_answers_the_seed_shape(sales, api):
    response = api(sales.world.admin).post(f"{SALES}/tasks", SEED_TASK, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    task = Task.objects.get()
    assert body == {
        "Stage": "In Progress",
        "Assigned To": "flowie@example.com",
        "Company ID": "1",
        "Company Name": "Acme Corp",
        "Number of Employees": "20",
        "Contract Value": "10000",
        "International?": False,
        "Expected Close Date": "2020-01-31",
        "Tags": [],
        "Task URL": f"http://testserver/flows/acme/sales/tasks/{task.pk}",
        "id": task.pk,
    }
    # Built-ins first, then fields by position, as the seed shows them.
    assert list(body)[:4] == ["Stage", "Assigned To", "Company ID", "Company Name"]
    assert task.key == "1"
    assert response["Flowdock-User"] == str(sales.world.admin.pk)


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({}, "", 201),
        ({"HTTP_ACCEPT": "*/*"}, "", 201),
        ({"HTTP_ACCEPT": "application/json"}, "", 201),
        ({"HTTP_ACCEPT": "application/json; indent=2"}, "", 201),
        ({}, "?format=json", 201),
        ({"HTTP_ACCEPT": "text/html"}, "", 406),
        ({"HTTP_ACCEPT": ""}, "", 406),
        ({}, "?format=xml", 404),
    ],
)
def test_the_answer_is_json_and_a_client_that_takes_none_is_refused_before_anything_is_written(
    sales, api, headers, query, status
):
    response = api(sales.world.admin).post(f"{SALES}/tasks{query}", {"Company Name": "A"}, format="json", **headers)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert Task.objects.count() == (1 if status == 201 else 0)
    if status == 201:
        assert response.json()["Company Name"] == "A"
    else:
        assert set(response.json()) == {"message"}


def test_numbers_may_be_numbers_or_strings_and_come_back_normalized(sales, api):
    client = api(sales.world.admin)
    response = client.post(
        f"{SALES}/tasks",
        {"Company Name": "A", "Number of Employees": 20, "Contract Value": 10000.50},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["Number of Employees"] == "20"
    assert response.json()["Contract Value"] == "10000.5"
    response = client.patch(f"{SALES}/tasks/1", {"Contract Value": "1.2300E+4"}, format="json")
    assert response.json()["Contract Value"] == "12300"


def test_default_stage_is_the_first_by_position(sales, api):
    Stage.objects.filter(flow=sales.flow, name="To Do").update(position=5)
    response = api(sales.world.admin).post(f"{SALES}/tasks", {"Company Name": "A"}, format="json")
    assert response.json()["Stage"] == "In Progress"


def test_unique_ids_count_up_per_flow(sales, api):
    client = api(sales.world.admin)
    ids = [client.post(f"{SALES}/tasks", {"Company Name": n}, format="json").json()["Company ID"] for n in "abc"]
    assert ids == ["1", "2", "3"]


def test_upsert_by_unique_id_updates_and_answers_200(sales, api):
    client = api(sales.world.admin)
    client.post(f"{SALES}/tasks", SEED_TASK, format="json")
    response = client.post(f"{SALES}/tasks", {"Company ID": "1", "Expected Close Date": "2020-02-01"}, format="json")
    assert response.status_code == 200
    assert response.json()["Expected Close Date"] == "2020-02-01"
    assert response.json()["Company Name"] == "Acme Corp"
    assert Task.objects.count() == 1


def test_a_unique_id_that_matches_nothing_cannot_be_set(sales, api):
    response = api(sales.world.admin).post(f"{SALES}/tasks", {"Company ID": "77", "Company Name": "A"}, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": {"Company ID": ["is assigned automatically and cannot be set"]}}
    assert not Task.objects.exists()


def test_upsert_by_a_text_unique_key(world, api):
    FieldFactory(flow=world.flow, name="Email", type=Field.Type.EMAIL, unique=True)
    client = api(world.admin)
    first = client.post(f"{SALES}/tasks", {"Email": "A@Example.com"}, format="json")
    assert first.status_code == 201
    again = client.post(f"{SALES}/tasks", {"Email": "a@example.com", "Stage": "Done"}, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["Stage"] == "Done"
    assert client.get(f"{SALES}/tasks/a@example.com").json()["Stage"] == "Done"


def test_get_put_patch_delete_by_key(sales, api):
    client = api(sales.world.admin)
    client.post(f"{SALES}/tasks", SEED_TASK, format="json")
    assert client.get(f"{SALES}/tasks/1").json()["Company Name"] == "Acme Corp"
    assert client.get(f"{SALES}/tasks/2").status_code == 404
    assert client.get(f"{SALES}/tasks/nope").status_code == 404

    response = client.put(f"{SALES}/tasks/1", {"Company Name": "Acme Inc"}, format="json")
    assert response.status_code == 200
    assert response.json()["Company Name"] == "Acme Inc"
    assert response.json()["Number of Employees"] == "20"  # absent fields are untouched

    response = client.patch(f"{SALES}/tasks/1", {"International?": True, "Assigned To": None}, format="json")
    assert response.json()["International?"] is True
    assert response.json()["Assigned To"] is None

    # PUT never creates.
    assert client.put(f"{SALES}/tasks/9", {"Company Name": "X"}, format="json").status_code == 404
    assert Task.objects.count() == 1

    response = client.delete(f"{SALES}/tasks/1")
    assert response.status_code == 204
    assert client.get(f"{SALES}/tasks/1").status_code == 404
    kinds = list(TaskEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["created", "updated", "updated", "deleted"]


def test_without_a_unique_key_tasks_are_addressed_by_id(world, api):
    FieldFactory(flow=world.flow, name="Title")
    client = api(world.flow_member)
    created = client.post(f"{SALES}/tasks", {"Title": "x"}, format="json").json()
    assert client.get(f"{SALES}/tasks/{created['id']}").json()["Title"] == "x"
    assert client.patch(f"{SALES}/tasks/{created['id']}", {"Title": "y"}, format="json").json()["Title"] == "y"
    assert client.delete(f"{SALES}/tasks/{created['id']}").status_code == 204


def test_read_only_keys_are_ignored_so_a_round_trip_works(sales, api):
    client = api(sales.world.admin)
    body = client.post(f"{SALES}/tasks", SEED_TASK, format="json").json()
    body["Company Name"] = "Round Trip"
    body["id"] = 999
    body["Task URL"] = "http://elsewhere/"
    response = client.put(f"{SALES}/tasks/1", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["Company Name"] == "Round Trip"
    assert response.json()["id"] != 999


def test_tags_are_written_as_a_list(sales, api):
    client = api(sales.world.admin)
    client.post(f"{SALES}/tasks", {"Company Name": "A", "Tags": ["vip", " VIP ", "hot"]}, format="json")
    assert client.get(f"{SALES}/tasks/1").json()["Tags"] == ["vip", "hot"]
    response = client.patch(f"{SALES}/tasks/1", {"Tags": "vip"}, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": {"Tags": ["must be a list of strings"]}}


@pytest.mark.parametrize(
    "body, errors",
    [
        ({"Company Name": "A", "Colour": "red"}, {"Colour": ["is not a field of this flow"]}),
        ({"Company Name": "A", "Number of Employees": "many"}, {"Number of Employees": ["must be a number"]}),
        ({"Company Name": "A", "Stage": "Nowhere"}, {"Stage": ["is not a stage of this flow"]}),
        (
            {"Company Name": "A", "Assigned To": "member@example.com"},
            {"Assigned To": ["must be the email of a member of this flow"]},
        ),
        ({"Company Name": "A", "Assigned To": "outsider@example.com"}, None),
        ({"Number of Employees": "3"}, {"Company Name": ["is required"]}),
        ({"Company Name": ""}, {"Company Name": ["is required"]}),
        (
            {"Company Name": "A", "Expected Close Date": "31/01/2020"},
            {"Expected Close Date": ["must be a date as YYYY-MM-DD"]},
        ),
        ({"Company Name": 42}, {"Company Name": ["must be a string"]}),
    ],
)
def test_invalid_data_answers_422_and_changes_nothing(sales, api, body, errors):
    response = api(sales.world.admin).post(f"{SALES}/tasks", body, format="json")
    assert response.status_code == 422
    if errors is None:
        assert set(response.json()["errors"]) == {"Assigned To"}
    else:
        assert response.json() == {"errors": errors}
    assert not Task.objects.exists()
    assert not TaskEvent.objects.exists()


@pytest.mark.parametrize("raw", ['[{"Company Name": "A"}]', '"text"', "42", "null", "true"])
def test_non_object_bodies_are_422(sales, api, raw):
    response = api(sales.world.admin).post(f"{SALES}/tasks", raw, content_type="application/json")
    assert response.status_code == 422
    assert response.json() == {"errors": {"body": ["must be a JSON object"]}}


def test_malformed_json_is_422(sales, api):
    response = api(sales.world.admin).post(f"{SALES}/tasks", "{nope", content_type="application/json")
    assert response.status_code == 422
    assert response.json() == {"errors": {"body": ["must be valid JSON"]}}


def test_an_invalid_update_changes_nothing(sales, api):
    client = api(sales.world.admin)
    client.post(f"{SALES}/tasks", SEED_TASK, format="json")
    response = client.patch(
        f"{SALES}/tasks/1", {"Company Name": "Changed", "Number of Employees": "lots"}, format="json"
    )
    assert response.status_code == 422
    assert client.get(f"{SALES}/tasks/1").json()["Company Name"] == "Acme Corp"
    assert TaskEvent.objects.count() == 1
    # Clearing a required field on update is refused too.
    response = client.patch(f"{SALES}/tasks/1", {"Company Name": None}, format="json")
    assert response.json() == {"errors": {"Company Name": ["is required"]}}


def test_duplicate_unique_key_is_422(world, api):
    FieldFactory(flow=world.flow, name="Code", unique=True)
    client = api(world.admin)
    client.post(f"{SALES}/tasks", {"Code": "A"}, format="json")
    other = client.post(f"{SALES}/tasks", {"Code": "B"}, format="json")
    assert other.status_code == 201
    response = client.patch(f"{SALES}/tasks/B", {"Code": "A"}, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": {"Code": ["has already been taken"]}}
    # Sending the task's own key is no clash.
    assert client.patch(f"{SALES}/tasks/B", {"Code": "B", "Stage": "Done"}, format="json").status_code == 200
    # Changing the key moves the task's address.
    assert client.patch(f"{SALES}/tasks/B", {"Code": "C"}, format="json").status_code == 200
    assert client.get(f"{SALES}/tasks/C").status_code == 200
    assert client.get(f"{SALES}/tasks/B").status_code == 404


def test_events_record_old_and_new_values_in_api_form(sales, api, rings, django_capture_on_commit_callbacks):
    client = api(sales.world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{SALES}/tasks", SEED_TASK, format="json")
    created = TaskEvent.objects.get()
    assert created.kind == "created"
    assert created.source == "api"
    assert created.actor == sales.world.admin
    assert created.changes["Stage"] == [None, "In Progress"]
    assert created.changes["Company ID"] == [None, "1"]
    assert created.changes["Number of Employees"] == [None, "20"]
    assert created.dispatched_at is None and rings == [[created.pk]]

    with django_capture_on_commit_callbacks(execute=True):
        client.patch(
            f"{SALES}/tasks/1",
            {"Stage": "done", "Number of Employees": 25, "Assigned To": None, "Company Name": "Acme Corp"},
            format="json",
        )
    updated = TaskEvent.objects.latest("id")
    assert updated.kind == "updated"
    assert updated.changes == {
        "Stage": ["In Progress", "Done"],
        "Assigned To": ["flowie@example.com", None],
        "Number of Employees": ["20", "25"],
    }
    assert updated.task_ref == Task.objects.get().pk
    assert updated.dispatched_at is None and rings == [[created.pk], [created.pk, updated.pk]]


def test_no_event_when_nothing_changed(sales, api, rings, django_capture_on_commit_callbacks):
    client = api(sales.world.admin)
    client.post(f"{SALES}/tasks", SEED_TASK, format="json")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.patch(f"{SALES}/tasks/1", {"Number of Employees": 20, "Stage": "in progress"}, format="json")
    assert response.status_code == 200
    assert TaskEvent.objects.count() == 1
    assert callbacks == [] and rings == []


def test_delete_event_keeps_the_values(sales, api):
    client = api(sales.world.admin)
    task_id = client.post(f"{SALES}/tasks", SEED_TASK, format="json").json()["id"]
    client.delete(f"{SALES}/tasks/1")
    event = TaskEvent.objects.latest("id")
    assert event.kind == "deleted"
    assert event.task is None and event.task_ref == task_id
    assert event.changes["Company Name"] == ["Acme Corp", None]


# --- filters and pagination --------------------------------------------------------------------


@pytest.fixture
def listed(sales):
    admin, flowie = sales.world.admin, sales.world.flow_member
    make_task(sales.flow, admin, {"Company Name": "A", "Number of Employees": 42, "Stage": "In Progress"})
    make_task(sales.flow, admin, {"Company Name": "B", "Number of Employees": "42.0", "Assigned To": flowie.email})
    make_task(sales.flow, admin, {"Company Name": "C", "International?": True, "Stage": "Done", "Tags": ["vip"]})
    return sales


@pytest.mark.parametrize(
    "query, names",
    [
        ("", ["C", "B", "A"]),
        ("?Stage=In%20Progress", ["A"]),
        ("?stage=in%20progress", ["A"]),
        ("?Number%20of%20Employees=42", ["B", "A"]),
        ("?Number%20of%20Employees=42.00&Stage=To%20Do", ["B"]),
        ("?Assigned%20To=", ["C", "A"]),
        ("?Assigned%20To=flowie@example.com", ["B"]),
        ("?International%3F=true", ["C"]),
        ("?International%3F=false", ["B", "A"]),
        ("?Company%20Name=B", ["B"]),
        ("?Company%20Name=", []),
        ("?Expected%20Close%20Date=", ["C", "B", "A"]),
        ("?Company%20ID=2", ["B"]),
        ("?Tags=vip", ["C"]),
        ("?Stage=Nowhere", []),
    ],
)
def test_filters(listed, api, query, names):
    response = api(listed.world.flow_member).get(f"{SALES}/tasks{query}")
    assert response.status_code == 200, response.json()
    assert [task["Company Name"] for task in response.json()] == names


def test_active_lists_tasks_outside_end_stages(listed, api):
    response = api(listed.world.admin).get(f"{SALES}/tasks/active")
    assert [task["Company Name"] for task in response.json()] == ["B", "A"]
    response = api(listed.world.admin).get(f"{SALES}/tasks/active?Stage=Done")
    assert response.json() == []


def test_unknown_filters_are_422(listed, api):
    response = api(listed.world.admin).get(f"{SALES}/tasks?Colour=red&Stage=Done")
    assert response.status_code == 422
    assert response.json() == {"errors": {"Colour": ["is not a field of this flow"]}}
    response = api(listed.world.admin).get(f"{SALES}/tasks?Number%20of%20Employees=lots")
    assert response.status_code == 422


def test_select_filters(world, api):
    FieldFactory(flow=world.flow, name="Size", type=Field.Type.SINGLE_SELECT, options=["S", "M"])
    FieldFactory(flow=world.flow, name="Colours", type=Field.Type.MULTIPLE_SELECT, options=["Red", "Blue"])
    make_task(world.flow, world.admin, {"Size": "S", "Colours": ["Red", "Blue"]})
    make_task(world.flow, world.admin, {"Size": "M", "Colours": ["Blue"]})
    client = api(world.admin)
    assert len(client.get(f"{SALES}/tasks?Size=s").json()) == 1
    assert len(client.get(f"{SALES}/tasks?Colours=blue").json()) == 2
    assert len(client.get(f"{SALES}/tasks?Colours=Red").json()) == 1


def test_pagination_keeps_a_plain_list_with_link_and_total(sales, api):
    for n in range(7):
        make_task(sales.flow, sales.world.admin, {"Company Name": f"T{n}"})
    client = api(sales.world.admin)
    response = client.get(f"{SALES}/tasks?limit=3&Stage=To%20Do")
    assert [t["Company Name"] for t in response.json()] == ["T6", "T5", "T4"]
    assert response["X-Total-Count"] == "7"
    assert response["Link"].startswith("<http://testserver/api/flows/acme/sales/tasks?")
    assert "page=2" in response["Link"] and 'rel="next"' in response["Link"]
    assert "limit=3" in response["Link"]

    response = client.get(f"{SALES}/tasks?limit=3&page=3")
    assert [t["Company Name"] for t in response.json()] == ["T0"]
    assert 'rel="next"' not in response["Link"] and 'rel="prev"' in response["Link"]

    response = client.get(f"{SALES}/tasks")
    assert len(response.json()) == 7
    assert "Link" not in response
    assert response["X-Total-Count"] == "7"

    assert client.get(f"{SALES}/tasks?limit=0").status_code == 422
    assert client.get(f"{SALES}/tasks?page=x").status_code == 422
    assert client.get(f"{SALES}/tasks?limit=9999").status_code == 200


def test_listing_costs_the_same_queries_for_many_tasks(sales, api, django_assert_max_num_queries):
    client = api(sales.world.admin)
    make_task(sales.flow, sales.world.admin, {"Company Name": "first", "Assigned To": "flowie@example.com"})
    with django_assert_max_num_queries(12) as few:
        client.get(f"{SALES}/tasks")
    for n in range(25):
        make_task(sales.flow, sales.world.admin, {"Company Name": f"T{n}", "Assigned To": "admin@example.com"})
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(f"{SALES}/tasks").json()) == 26


# --- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who, status", [("admin", 200), ("flow_member", 200), ("member", 404), ("outsider", 404)])
def test_task_access(sales, api, who, status):
    make_task(sales.flow, sales.world.admin, {"Company Name": "A"})
    client = api(getattr(sales.world, who))
    assert client.get(f"{SALES}/tasks").status_code == status
    assert client.get(f"{SALES}/tasks/1").status_code == status
    assert client.patch(f"{SALES}/tasks/1", {"Company Name": "B"}, format="json").status_code == status
    assert client.post(f"{SALES}/tasks/1/comments", {"body": "hi"}, format="json").status_code in (
        (201,) if status == 200 else (404,)
    )
    expected = "B" if status == 200 else "A"
    assert Task.objects.get().data[str(sales.company_name.pk)] == expected


def test_task_api_needs_authentication(sales):
    assert APIClient().get(f"{SALES}/tasks").status_code in (401, 403)
    assert APIClient().post(f"{SALES}/tasks", {"Company Name": "A"}, format="json").status_code in (401, 403)
    assert not Task.objects.exists()


def test_unknown_flow_is_404(world, api):
    assert api(world.admin).get("/api/flows/acme/nope/tasks").status_code == 404
    assert api(world.admin).get("/api/flows/acme/sales/tasks/1").status_code == 404
