"""Every action step type's happy and failure path, through the engine."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from actions.engine import run_due, run_execute, run_next_wake_in, run_sweep
from actions.models import Run
from actions.services import action_perform
from tasks.models import Task
from tasks.services import task_to_json

pytestmark = pytest.mark.django_db


def perform(seed, action, user=None):
    run = action_perform(action=action, task=seed.task, actor=user or seed.world.flow_member)
    return run_execute(run.pk)


def current(seed):
    return task_to_json(task=Task.objects.get(pk=seed.task.pk))


def test_move_to_stage(seed):
    run = perform(seed, seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}]))
    assert run.status == "success" and current(seed)["Stage"] == "Completed"


def test_move_to_stage_that_was_deleted_fails(seed):
    action = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    seed.completed.delete()
    run = perform(seed, action)
    assert run.status == "fail" and "no longer exists" in run.errors[0]


def test_assign_to_person_performer_and_nobody(seed):
    perform(seed, seed.action("Mine", [{"type": "assign_to", "config": {"performer": True}}]))
    assert current(seed)["Assigned To"] == "flowie@example.com"
    perform(seed, seed.action("Boss", [{"type": "assign_to", "config": {"email": "admin@example.com"}}]))
    assert current(seed)["Assigned To"] == "admin@example.com"
    perform(seed, seed.action("Free", [{"type": "assign_to", "config": {"email": None}}]))
    assert current(seed)["Assigned To"] is None


def test_assign_to_someone_who_left_fails(seed):
    action = seed.action("Boss", [{"type": "assign_to", "config": {"email": "flowie@example.com"}}])
    seed.flow.memberships.filter(user=seed.world.flow_member).update(disabled=True)
    run = perform(seed, action, user=seed.world.admin)
    assert run.status == "fail" and "no longer a member" in run.errors[0]


def test_update_data(seed):
    action = seed.action(
        "Grow", [{"type": "update_data", "config": {"values": {"Number of Employees": 25, "International?": True}}}]
    )
    run = perform(seed, action)
    assert run.status == "success"
    task = current(seed)
    assert task["Number of Employees"] == "25" and task["International?"] is True


def test_update_data_refused_when_schema_changed(seed):
    from flows.models import Field

    action = seed.action("Grow", [{"type": "update_data", "config": {"values": {"Company Name": "New"}}}])
    Field.objects.filter(flow=seed.flow, name="Company Name").delete()
    run = perform(seed, action)
    assert run.status == "fail" and "Company Name" in run.errors[0]


def test_delete_task_stops_the_run(seed):
    action = seed.action(
        "Drop",
        [{"type": "delete_task", "config": {}}, {"type": "update_data", "config": {"values": {"Company Name": "X"}}}],
    )
    run = perform(seed, action)
    assert run.status == "success"
    assert not Task.objects.filter(pk=seed.task.pk).exists()
    assert [s.type for s in run.step_runs.all()] == ["delete_task"]


def test_schedule_stage_change_is_durable(seed):
    action = seed.action("Later", [{"type": "schedule_stage_change", "config": {"stage": "Completed", "days": 3}}])
    run = perform(seed, action)
    assert run.status == "success" and current(seed)["Stage"] == "In Progress"
    scheduled = Run.objects.get(status=Run.Status.WAITING)
    assert timedelta(days=2, hours=23) < scheduled.wake_at - timezone.now() <= timedelta(days=3)
    assert run_sweep() == []
    # The sweeper sleeps until then (at most its interval), so a due wait is rung on time.
    assert timedelta(days=2, hours=23).total_seconds() < run_next_wake_in() <= timedelta(days=3).total_seconds()
    assert run_execute(scheduled.pk) is None  # not due yet
    Run.objects.filter(pk=scheduled.pk).update(wake_at=timezone.now() - timedelta(seconds=1))
    assert run_sweep() == [scheduled.pk]
    assert run_execute(scheduled.pk).status == "success"
    assert current(seed)["Stage"] == "Completed"
    assert run_next_wake_in() == float("inf")


def test_a_worker_runs_due_waits_ahead_of_the_queue(seed, monkeypatch):
    """After the run it was rung for, a worker finishes waits that are due, without their doorbells."""
    action = seed.action("Later", [{"type": "schedule_stage_change", "config": {"stage": "Completed", "days": 3}}])
    perform(seed, action)
    scheduled = Run.objects.get(status=Run.Status.WAITING)
    monkeypatch.setattr("actions.engine.DUE_CHECK_SECONDS", 60)
    monkeypatch.setattr("actions.engine._next_due_check", 0.0)
    assert run_due() == 0  # not due yet
    Run.objects.filter(pk=scheduled.pk).update(wake_at=timezone.now() - timedelta(seconds=1))
    assert run_due() == 0  # it just looked: the next look is a moment away
    monkeypatch.setattr("actions.engine._next_due_check", 0.0)
    assert run_due() == 1
    scheduled.refresh_from_db()
    assert scheduled.status == "success" and current(seed)["Stage"] == "Completed"
    assert run_due() == 0


def test_email_notification_with_task_data(seed):
    action = seed.action(
        "Tell",
        [
            {
                "type": "email_notification",
                "config": {
                    "recipients": ["assignee", "boss@example.com"],
                    "subject": "{{task.Company Name}} is done",
                    "body": "Close date {{task.Expected Close Date}}; stage {{task.stage}}; {{task.__class__}}",
                },
            }
        ],
    )
    run = perform(seed, action)
    assert run.status == "success"
    [message] = mail.outbox
    assert message.to == ["flowie@example.com", "boss@example.com"]
    assert message.subject == "Acme Corp is done"
    assert message.body == "Close date 2020-01-31; stage In Progress; {{task.__class__}}"


def test_steps_run_in_order_in_one_go(seed, receiver):
    action = seed.action(
        "Chain",
        [
            {"type": "update_data", "config": {"values": {"Company Name": "Step 1"}}},
            {"type": "api_call", "config": {"url": receiver.url}},
            {"type": "move_to_stage", "config": {"stage": "Completed"}},
        ],
    )
    run = perform(seed, action)
    assert run.status == "success"
    import json

    sent = json.loads(receiver.requests[0].body)["task"]
    assert sent["Company Name"] == "Step 1" and sent["Stage"] == "In Progress"
    assert current(seed)["Stage"] == "Completed"


@pytest.mark.parametrize(
    "type_name, config",
    [
        ("update_data", {"values": {"Company Name": "X"}}),
        ("move_to_stage", {"stage": "Completed"}),
        ("assign_to", {"email": None}),
        ("delete_task", {}),
    ],
)
def test_a_task_deleted_while_its_step_ran_fails_the_step(seed, type_name, config):
    from actions.steps.base import StepContext, StepFailed, get_step_type

    task = Task.objects.get(pk=seed.task.pk)
    Task.objects.filter(pk=task.pk).delete()  # after the step read it, before its change applies
    run = Run(kind=Run.Kind.ACTION, flow=seed.flow, name="Late")
    ctx = StepContext(
        run=run, flow=seed.flow, task=task, user=seed.world.admin, path="0", idempotency_key="k", attempt=1, depth=0
    )
    result = get_step_type(type_name).execute(ctx, config)
    with pytest.raises(StepFailed, match="the task no longer exists"):
        result.apply()
