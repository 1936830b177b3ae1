"""The Task API keeps a flow's fields and first stage per process, under the flow's schema_version:
every way of changing them must be seen by the very next request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from flows.models import Field, Stage
from tasks.models import Task
from tests.tasks.conftest import SALES

pytestmark = pytest.mark.django_db


def create(client, data: dict):
    return client.post(f"{SALES}/tasks", data, format="json")


@pytest.fixture
def client(sales, api):
    client = api(sales.world.admin)
    assert create(client, {"Company Name": "Warm"}).status_code == 201  # fills the cache
    return client


def test_the_second_create_reads_neither_fields_nor_stages(client):
    with CaptureQueriesContext(connection) as queries:
        assert create(client, {"Company Name": "Acme"}).status_code == 201
    sql = "\n".join(q["sql"] for q in queries.captured_queries)
    # (The uniqueId counter is still locked and read by id: that is the numbering, not the schema.)
    assert '"flows_field"."flow_id" =' not in sql
    assert '"flows_stage"."flow_id" =' not in sql


def test_a_field_added_through_the_api_validates_on_the_next_create(client):
    assert create(client, {"Company Name": "Acme", "Region": "EU"}).json()["errors"] == {
        "Region": ["is not a field of this flow"]
    }
    assert client.post(f"{SALES}/fields", {"name": "Region", "type": "text"}, format="json").status_code == 201
    response = create(client, {"Company Name": "Acme", "Region": "EU"})
    assert response.status_code == 201, response.json()
    assert response.json()["Region"] == "EU"


def test_a_field_made_required_is_required_on_the_next_create(client, sales):
    url = f"{SALES}/fields/{sales.employees.pk}"
    assert client.put(url, {"required": True}, format="json").status_code == 200
    response = create(client, {"Company Name": "Acme"})
    assert response.status_code == 422
    assert response.json()["errors"] == {"Number of Employees": ["is required"]}


def test_a_renamed_and_a_deleted_field_are_seen_on_the_next_create(client, sales):
    assert client.put(f"{SALES}/fields/{sales.close.pk}", {"name": "Close"}, format="json").status_code == 200
    assert create(client, {"Company Name": "Acme", "Close": "2020-01-31"}).json()["Close"] == "2020-01-31"
    assert client.delete(f"{SALES}/fields/{sales.value.pk}?confirm=true").status_code == 204
    assert "Contract Value" not in create(client, {"Company Name": "Acme"}).json()


def test_a_new_first_stage_is_where_the_next_task_starts(client, sales):
    assert create(client, {"Company Name": "Acme"}).json()["Stage"] == "To Do"
    response = client.post(f"{SALES}/stages", {"name": "Inbox", "position": 0}, format="json")
    assert response.status_code == 201, response.json()
    assert create(client, {"Company Name": "Acme"}).json()["Stage"] == "Inbox"
    inbox = Stage.objects.get(flow=sales.flow, name="Inbox")
    assert client.put(f"{SALES}/stages/{inbox.pk}", {"name": "Triage"}, format="json").status_code == 200
    assert create(client, {"Company Name": "Acme"}).json()["Stage"] == "Triage"
    first = Stage.objects.get(flow=sales.flow, name="To Do")
    assert client.delete(f"{SALES}/stages/{inbox.pk}?move_to={first.pk}").status_code == 204
    assert create(client, {"Company Name": "Acme"}).json()["Stage"] == "To Do"


@pytest.fixture
def staff(client, sales):
    admin = sales.world.admin
    admin.is_staff = admin.is_superuser = True
    admin.save()
    from django.test import Client

    browser = Client()
    browser.force_login(admin)
    return browser


def field_form(field: Field, **changes) -> dict:
    data = {
        "flow": field.flow_id,
        "name": field.name,
        "type": field.type,
        "options": "[]",
        "position": field.position,
        "next_value": field.next_value,
    }
    data.update({name: "on" for name in ("required", "editable", "unique") if getattr(field, name)})
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_a_field_changed_in_django_admin_is_seen_on_the_next_create(client, staff, sales):
    response = staff.post(
        f"/admin/flows/field/{sales.employees.pk}/change/", field_form(sales.employees, name="Headcount")
    )
    assert response.status_code == 302, response.content
    assert create(client, {"Company Name": "Acme", "Headcount": "5"}).json()["Headcount"] == "5"

    response = staff.post(f"/admin/flows/field/{sales.employees.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert "Headcount" not in create(client, {"Company Name": "Acme"}).json()


def test_a_field_added_in_django_admin_is_seen_on_the_next_create(client, staff, sales):
    new = Field(flow=sales.flow, name="Region", type="text", position=9)
    assert staff.post("/admin/flows/field/add/", field_form(new)).status_code == 302
    assert create(client, {"Company Name": "Acme", "Region": "EU"}).json()["Region"] == "EU"


def test_stages_deleted_in_bulk_in_django_admin_are_seen_on_the_next_create(client, staff, sales):
    first = Stage.objects.get(flow=sales.flow, name="To Do")
    Task.objects.filter(stage=first).delete()  # a stage that holds tasks cannot be deleted
    response = staff.post(
        "/admin/flows/stage/", {"action": "delete_selected", "_selected_action": [first.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert create(client, {"Company Name": "Acme"}).json()["Stage"] == "In Progress"


def test_stages_and_fields_changed_in_the_flow_admin_are_seen_on_the_next_create(client, staff, sales):
    flow = sales.flow
    stages = list(Stage.objects.filter(flow=flow).order_by("position", "id"))
    data = {
        "organization": flow.organization_id,
        "name": flow.name,
        "parameterized_name": flow.parameterized_name,
        "access_mode": flow.access_mode,
        "module": flow.module,
        "join_token": flow.join_token,
        "created_by": flow.created_by_id or "",
        "stages-TOTAL_FORMS": len(stages),
        "stages-INITIAL_FORMS": len(stages),
        "fields-TOTAL_FORMS": 0,
        "fields-INITIAL_FORMS": 0,
    }
    for index, stage in enumerate(stages):
        data.update(
            {
                f"stages-{index}-id": stage.pk,
                f"stages-{index}-flow": flow.pk,
                f"stages-{index}-name": stage.name,
                f"stages-{index}-color": stage.color,
                f"stages-{index}-position": stage.position,
                f"stages-{index}-outcome": stage.outcome,
            }
        )
    data["stages-0-name"] = "Inbox"  # the first stage, renamed in an inline
    response = staff.post(f"/admin/flows/flow/{flow.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert create(client, {"Company Name": "Acme"}).json()["Stage"] == "Inbox"
