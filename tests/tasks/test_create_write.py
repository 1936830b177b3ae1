"""A create outside any transaction (the Task API's POST): on PostgreSQL the task and its "created"
event are one statement, atomic by itself, with no BEGIN or COMMIT around it. These tests run
outside the test's own transaction so that path is the one taken."""

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

import tasks.services
from tasks.models import Task, TaskEvent
from tests.conftest import api_client
from tests.factories import FieldFactory, make_task

pytestmark = pytest.mark.django_db(transaction=True)

TASKS = "/api/flows/acme/sales/tasks"


def test_a_created_task_and_its_event_are_written_together(world, rings):
    FieldFactory(flow=world.flow, name="Company")
    client = api_client(world.admin)
    assert client.post(TASKS, {"Company": "Warm"}, format="json").status_code == 201
    with CaptureQueriesContext(connection) as queries:
        response = client.post(TASKS, {"Company": "Acme"}, format="json")
    assert response.status_code == 201, response.json()
    task = Task.objects.get(pk=response.json()["id"])
    event = TaskEvent.objects.get(task_ref=task.pk)
    assert (event.task_id, event.kind, event.source, event.actor_id) == (task.pk, "created", "api", world.admin.pk)
    assert event.changes == {"Stage": [None, "To Do"], "Company": [None, "Acme"]}
    assert event.pk in rings[-1]  # rung after the write, which was committed by then
    if connection.vendor == "postgresql":
        assert event.created_at == task.created_at == task.updated_at
        # One read of the access version (the token's and the flow's check share it), and the
        # write: one statement, no BEGIN or COMMIT around it.
        sql = [q["sql"] for q in queries]
        assert sum("flows_cacheversion" in s for s in sql) == 1, sql
        writes = [s for s in sql if not s.startswith("SELECT")]
        assert len(writes) == 1 and writes[0].startswith("WITH task AS (INSERT"), writes
        assert "tasks_taskevent" in writes[0]


def test_a_create_whose_event_is_refused_leaves_no_task(world):
    tasks_before, events_before = Task.objects.count(), TaskEvent.objects.count()
    with pytest.raises(IntegrityError):  # depth must be 0 or more: the event's INSERT fails
        make_task(world.flow, world.admin, {}, depth=-1)
    assert (Task.objects.count(), TaskEvent.objects.count()) == (tasks_before, events_before)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's create holds the one write lock from its check to its write: no other create in between",
)
def test_a_key_taken_between_the_check_and_the_write_updates_that_task(world, monkeypatch):
    """A concurrent create of the same unique key that commits after this create's check: the
    database refuses the INSERT, and the upsert updates the task the other request made."""
    FieldFactory(flow=world.flow, name="Code", unique=True)
    FieldFactory(flow=world.flow, name="Note")
    validate = tasks.services._validate
    raced = []

    def validate_then_race(**kwargs):
        cleaned = validate(**kwargs)
        if not raced:
            monkeypatch.setattr(tasks.services, "_validate", validate)
            raced.append(make_task(world.flow, world.admin, {"Code": "A", "Note": "theirs"}))
        return cleaned

    monkeypatch.setattr(tasks.services, "_validate", validate_then_race)
    response = api_client(world.admin).post(TASKS, {"Code": "A", "Note": "ours"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["id"] == raced[0].pk and response.json()["Note"] == "ours"
    assert Task.objects.filter(flow=world.flow).count() == 1
    assert list(TaskEvent.objects.order_by("id").values_list("kind", flat=True)) == ["created", "updated"]
