"""The engine's per-step read of a task: plain SQL written once, read back as the ORM reads it."""

import threading

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from tasks.models import Task
from tasks.selectors import task_with_relations
from tests.factories import make_task


def _orm(task_id):
    return Task.objects.select_related("flow__organization", "stage", "assignee").get(pk=task_id)


def _same(a, b):
    assert type(a) is type(b)
    for field in type(a)._meta.concrete_fields:
        assert getattr(a, field.attname) == getattr(b, field.attname), field.name
        assert type(getattr(a, field.attname)) is type(getattr(b, field.attname)), field.name


def test_reads_the_task_and_its_relations_as_the_orm_does(sales):
    world = sales.world
    task = make_task(
        sales.flow,
        world.admin,
        {
            "Company Name": "Initech",
            "Number of Employees": 80,
            "Contract Value": 12500.5,
            "International?": True,
            "Expected Close Date": "2021-03-04",
            "Assigned To": world.flow_member.email,
            "Tags": ["vip"],
        },
    )
    with CaptureQueriesContext(connection) as queries:
        read = task_with_relations(task_id=task.pk)
        # Everything a step reads comes with it: no query more for the relations.
        names = (read.flow.organization.name, read.stage.name, read.assignee.email)
    assert len(queries) == 1
    assert names == ("Acme", read.stage.name, "flowie@example.com")
    expected = _orm(task.pk)
    _same(read, expected)
    _same(read.flow, expected.flow)
    _same(read.flow.organization, expected.flow.organization)
    _same(read.stage, expected.stage)
    _same(read.assignee, expected.assignee)
    assert read.data == expected.data and read.tags == ["vip"]
    assert not read._state.adding


def test_a_task_with_no_assignee_and_a_missing_task(sales):
    task = make_task(sales.flow, sales.world.admin, {"Company Name": "Solo"})
    read = task_with_relations(task_id=task.pk)
    assert read.assignee is None and read.assignee_id is None
    assert read.stage.name == _orm(task.pk).stage.name
    assert task_with_relations(task_id=task.pk + 1000) is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not connection.features.has_select_for_update_of, reason="row locks (PostgreSQL)")
def test_lock_holds_the_task_row_and_only_it(sales):
    """A change locks the task row until it commits; the flow row stays free for other writers."""
    task = make_task(sales.flow, sales.world.admin, {"Company Name": "Locked"})
    seen = {}

    def other_session():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                for table, pk in (("flows_flow", task.flow_id), ("tasks_task", task.pk)):
                    try:
                        with transaction.atomic():
                            cursor.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [pk])
                        seen[table] = "free"
                    except OperationalError:
                        seen[table] = "locked"
        finally:
            connection.close()

    with transaction.atomic():
        task_with_relations(task_id=task.pk, lock=True)
        thread = threading.Thread(target=other_session)
        thread.start()
        thread.join()
    assert seen == {"flows_flow": "free", "tasks_task": "locked"}
