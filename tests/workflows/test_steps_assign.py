"""assign_owner: round robin (fair under concurrency) and least loaded, against flow membership at run time."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from actions.engine import run_create, run_execute
from actions.models import Run
from flows.models import FlowMembership
from tasks.models import Task
from tasks.services import task_set_assignee, task_set_stage
from tests.workflows.conftest import run_workflow, start_workflow, step_error
from workflows.models import RoundRobinCursor, WorkflowAction

pytestmark = pytest.mark.django_db


def assign(crm, task, algorithm="round_robin", people=None):
    people = people if people is not None else [rep.pk for rep in crm.reps]
    return run_workflow(task, [{"actionType": "assign_owner", "config": {"algorithm": algorithm, "userIds": people}}])


def assignee(task):
    return Task.objects.get(pk=task.pk).assignee


def test_round_robin_takes_turns_and_keeps_its_cursor_per_action(crm):
    run = start_workflow(
        crm.lead(),
        [{"actionType": "assign_owner", "config": {"algorithm": "round_robin", "userIds": [r.pk for r in crm.reps]}}],
    )
    action = WorkflowAction.objects.get(workflow=run.workflow)
    assert run_execute(run.pk).status == Run.Status.SUCCESS
    picks = [Task.objects.get(pk=run.task_id).assignee.email]
    for _ in range(5):
        task = crm.lead()
        again = run_create(
            kind="workflow", flow=crm.leads, task=task, name="again", program=run.program, workflow=run.workflow
        )
        assert run_execute(again.pk).status == Run.Status.SUCCESS
        picks.append(assignee(task).email)
    assert picks == [r.email for r in crm.reps] * 2
    assert RoundRobinCursor.objects.get(workflow_action=action).position == 3
    step = run.step_runs.get()
    assert step.output["assigned_to"] == "rep1@example.com"


def test_ids_as_strings_and_emails_work_and_people_who_left_are_skipped(crm):
    FlowMembership.objects.filter(flow=crm.leads, user=crm.reps[1]).delete()
    people = [str(crm.reps[0].pk), "REP2@example.com", "rep3@example.com"]
    first = start_workflow(crm.lead(), [{"actionType": "assign_owner", "config": {"userIds": people}}])
    run_execute(first.pk)
    picks = [assignee(first.task).email]
    for _ in range(3):
        task = crm.lead()
        run = run_create(
            kind="workflow", flow=crm.leads, task=task, name="x", program=first.program, workflow=first.workflow
        )
        run_execute(run.pk)
        picks.append(assignee(task).email)
    assert picks == ["rep1@example.com", "rep3@example.com", "rep1@example.com", "rep3@example.com"]


def test_fails_when_nobody_listed_is_a_member_any_more(crm):
    task = crm.lead()
    FlowMembership.objects.filter(flow=crm.leads, user__in=crm.reps[:2]).update(disabled=True)
    run = assign(crm, task, people=[crm.reps[0].pk, crm.reps[1].pk])
    assert run.status == Run.Status.FAIL
    assert "none of the listed people is a member of Leads" in step_error(run)
    assert assignee(task) is None


def test_least_loaded_picks_the_fewest_open_tasks_ties_by_list_order(crm):
    rep1, rep2, rep3 = crm.reps
    for rep, count in ((rep1, 2), (rep2, 1), (rep3, 1)):
        for _ in range(count):
            task_set_assignee(task=crm.lead(), actor=None, assignee=rep, source="api")
    # Tasks in an end stage and tasks in other flows do not count.
    done = crm.lead()
    task_set_assignee(task=done, actor=None, assignee=rep2, source="api")
    task_set_stage(task=done, actor=None, stage=crm.lead_stages["Converted"], source="api")
    task = crm.lead()
    run = assign(crm, task, "least_loaded", [rep1.pk, rep3.pk, rep2.pk])
    assert run.status == Run.Status.SUCCESS
    assert assignee(task) == rep3  # rep2 and rep3 both have 1 open task; rep3 is listed first
    another = crm.lead()
    assign(crm, another, "least_loaded", [rep1.pk, rep3.pk, rep2.pk])
    assert assignee(another) == rep2


def test_least_loaded_skips_members_who_left(crm):
    rep1, rep2, _ = crm.reps
    FlowMembership.objects.filter(flow=crm.leads, user=rep2).delete()
    task_set_assignee(task=crm.lead(), actor=None, assignee=rep1, source="api")
    task = crm.lead()
    assign(crm, task, "least_loaded", [rep2.pk, rep1.pk])
    assert assignee(task) == rep1


def test_assignment_is_a_workflow_change_one_level_deeper(crm):
    task = crm.lead()
    assign(crm, task)
    event = task.events.order_by("id").last()
    assert (
        event.source == "workflow" and event.depth == 1 and event.changes["Assigned To"] == [None, "rep1@example.com"]
    )


def test_nested_round_robin_uses_the_top_level_action_cursor(crm):
    run = start_workflow(
        crm.lead(),
        [
            {
                "actionType": "branch",
                "config": {
                    "conditions": [{"field": "Source", "operator": "equals", "value": "website"}],
                    "then": [{"actionType": "assign_owner", "config": {"userIds": [r.pk for r in crm.reps]}}],
                },
            }
        ],
    )
    assert run_execute(run.pk).status == Run.Status.SUCCESS
    assert assignee(run.task).email == "rep1@example.com"
    assert RoundRobinCursor.objects.get().workflow_action.action_type == "branch"


@pytest.mark.django_db(transaction=True)
def test_round_robin_is_fair_across_concurrent_runs(crm):
    """12 runs of one workflow action executed from 4 threads: each of 3 people gets exactly 4."""
    first_task = crm.lead()
    first = start_workflow(
        first_task,
        [{"actionType": "assign_owner", "config": {"algorithm": "round_robin", "userIds": [r.pk for r in crm.reps]}}],
    )
    runs = [first.pk]
    for _ in range(11):
        task = crm.lead()
        runs.append(
            run_create(
                kind="workflow", flow=crm.leads, task=task, name="rr", program=first.program, workflow=first.workflow
            ).pk
        )

    def execute(run_id: int) -> str:
        try:
            return run_execute(run_id).status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(execute, runs))
    assert statuses == [Run.Status.SUCCESS] * 12
    owners = [Run.objects.get(pk=pk).task.assignee.email for pk in runs]
    assert sorted(owners.count(rep.email) for rep in crm.reps) == [4, 4, 4]
    assert RoundRobinCursor.objects.get().position % 3 == 0
