"""The write services other apps call (actions, workflows, pages)."""

import pytest

from flows.models import Stage
from tasks.models import TaskEvent
from tasks.services import task_add_tags, task_set_assignee, task_set_stage, task_update, task_upsert
from tasks.values import TaskValidationError
from tests.factories import FieldFactory, UserFactory, make_flow, make_task

pytestmark = pytest.mark.django_db


def test_set_stage_assignee_and_tags_record_events_with_source_and_depth(
    world, rings, django_capture_on_commit_callbacks
):
    task = make_task(world.flow, world.admin)
    done = Stage.objects.get(flow=world.flow, name="Done")
    with django_capture_on_commit_callbacks(execute=True):
        task = task_set_stage(task=task, actor=None, stage=done, source="workflow", depth=2)
        task = task_set_assignee(task=task, actor=world.admin, assignee=world.flow_member, source="action")
        task = task_add_tags(task=task, actor=None, tags=["vip", "VIP", "new"], source="workflow", depth=1)
        task = task_add_tags(task=task, actor=None, tags=["vip"], source="workflow", depth=1)  # no change
    events = list(TaskEvent.objects.filter(kind="updated").order_by("id"))
    assert [(e.changes, e.source, e.depth) for e in events] == [
        ({"Stage": ["To Do", "Done"]}, "workflow", 2),
        ({"Assigned To": [None, "flowie@example.com"]}, "action", 0),
        ({"Tags": [[], ["vip", "new"]]}, "workflow", 1),
    ]
    assert events[0].actor is None and events[1].actor == world.admin
    # Recorded for the workflows to dispatch, and one doorbell per write that changed something.
    assert not TaskEvent.objects.filter(dispatched_at__isnull=False).exists()
    assert rings == [list(TaskEvent.objects.values_list("pk", flat=True))] * 3


def test_set_stage_and_assignee_refuse_other_flows_and_non_members(world):
    task = make_task(world.flow, world.admin)
    other_flow = make_flow(world.org, world.admin, name="Other")
    with pytest.raises(TaskValidationError):
        task_set_stage(task=task, actor=None, stage=other_flow.stages.first(), source="workflow")
    with pytest.raises(TaskValidationError):
        task_set_assignee(task=task, actor=None, assignee=world.member, source="workflow")
    with pytest.raises(ValueError):
        task_update(task=task, actor=None, data={}, source="telepathy")


def test_upsert_returns_created_flag(world):
    FieldFactory(flow=world.flow, name="Code", unique=True)
    task, created = task_upsert(flow=world.flow, actor=world.admin, data={"Code": "A"})
    assert created
    again, created = task_upsert(flow=world.flow, actor=world.admin, data={"Code": "A", "Stage": "Done"}, source="web")
    assert not created and again.pk == task.pk and again.stage.name == "Done"
    assert TaskEvent.objects.latest("id").source == "web"


def test_disabled_members_cannot_be_assigned(world, api):
    user = UserFactory()
    from tests.factories import add_flow_member, add_org_member

    add_org_member(world.org, user)
    add_flow_member(world.flow, user, disabled=True)
    task = make_task(world.flow, world.admin)
    response = api(world.admin).patch(
        f"/api/flows/acme/sales/tasks/{task.pk}", {"Assigned To": user.email}, format="json"
    )
    assert response.status_code == 422


def test_a_change_inside_a_callers_transaction_is_all_or_nothing(world):
    """In a caller's transaction (a step's apply) a change takes no savepoint of its own: a refusal
    comes before any write and leaves the transaction usable; a failure after the task's UPDATE
    (here the event's INSERT, refused by the database) leaves the caller's transaction unable to
    commit anything, so the task is never changed without its event."""
    from django.db import IntegrityError, transaction
    from django.db.transaction import TransactionManagementError

    from tasks.models import Task

    FieldFactory(flow=world.flow, name="Code", unique=True)
    FieldFactory(flow=world.flow, name="Note")
    task = make_task(world.flow, world.admin, {"Code": "A", "Note": "first"})
    make_task(world.flow, world.admin, {"Code": "B"})
    events = TaskEvent.objects.count()

    with transaction.atomic():
        with pytest.raises(TaskValidationError):
            task_update(task=task, actor=None, data={"Note": ["not", "text"]}, source="action")
        with pytest.raises(TaskValidationError):  # the key of another task
            task_update(task=task, actor=None, data={"Code": "B"}, source="action")
        task_update(task=task, actor=None, data={"Note": "second"}, source="action")
    assert task_json(task)["Note"] == "second" and task_json(task)["Code"] == "A"
    assert TaskEvent.objects.count() == events + 1

    with transaction.atomic():
        with pytest.raises(IntegrityError):
            task_update(task=task, actor=None, data={"Note": "half"}, source="action", depth=-1)
        with pytest.raises(TransactionManagementError):
            Task.objects.count()
    assert task_json(task)["Note"] == "second"
    assert TaskEvent.objects.count() == events + 1


def task_json(task):
    from tasks.models import Task
    from tasks.services import task_to_json

    return task_to_json(task=Task.objects.get(pk=task.pk))


def test_events_of_a_flow_no_subscriber_hears_are_recorded_dispatched_and_ring_nobody(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr("tasks.services.EVENTS_RECORDED_HOOKS", [lambda: calls.append(1)])
    monkeypatch.setattr("tasks.services.EVENTS_HEARD", [lambda flow: flow.pk != world.flow.pk])
    task = make_task(world.flow, world.admin)
    done = Stage.objects.get(flow=world.flow, name="Done")
    with django_capture_on_commit_callbacks(execute=True):
        task_set_stage(task=task, actor=None, stage=done, source="workflow")
    [event] = TaskEvent.objects.filter(kind="updated")
    assert event.changes == {"Stage": ["To Do", "Done"]}
    assert event.dispatched_at is not None and calls == []
