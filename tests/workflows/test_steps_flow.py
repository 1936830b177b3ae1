"""wait and branch: parking the run, and choosing (nested) paths from the trigger record."""

from datetime import timedelta

import pytest
from django.utils import timezone

from actions.engine import run_execute
from actions.models import Run
from tasks.models import Task
from tasks.services import task_to_json
from tests.workflows.conftest import run_workflow, start_workflow, step_error

pytestmark = pytest.mark.django_db


def tags(task):
    return Task.objects.get(pk=task.pk).tags


def tag(name):
    return {"actionType": "add_tag", "config": {"tag": name}}


# --- wait --------------------------------------------------------------------------------------


@pytest.mark.parametrize("duration,unit,seconds", [(5, "seconds", 5), (2, "minutes", 120), (1.5, "hours", 5400)])
def test_wait_parks_the_run_until_now_plus_duration(crm, duration, unit, seconds):
    before = timezone.now()
    run = run_workflow(
        crm.lead(), [{"actionType": "wait", "config": {"duration": duration, "unit": unit}}, tag("later")]
    )
    after = timezone.now()
    assert run.status == Run.Status.WAITING and not run.lease_owner
    assert before + timedelta(seconds=seconds) <= run.wake_at <= after + timedelta(seconds=seconds)
    step = run.step_runs.get()
    assert step.status == "waiting" and step.output["seconds"] == seconds
    assert tags(run.task) == []
    # Not due yet: nobody can claim it.
    assert run_execute(run.pk) is None


def test_wait_then_continues_with_the_next_action_when_due(crm):
    run = run_workflow(crm.lead(), [{"actionType": "wait", "config": {"duration": 1, "unit": "days"}}, tag("later")])
    Run.objects.filter(pk=run.pk).update(wake_at=timezone.now() - timedelta(seconds=1))
    run = run_execute(run.pk)
    assert run.status == Run.Status.SUCCESS
    assert [s.status for s in run.step_runs.order_by("path")] == ["success", "success"]
    assert tags(run.task) == ["later"]


# --- branch ------------------------------------------------------------------------------------


def branch(conditions, then=(), otherwise=(), logic="AND"):
    return {
        "actionType": "branch",
        "config": {"logic": logic, "conditions": conditions, "then": list(then), "else": list(otherwise)},
    }


def test_branch_takes_then_when_the_conditions_hold(crm):
    lead = crm.lead(Score=80)
    conditions = [
        {"field": "source", "operator": "equals", "value": "Website"},
        {"field": "score", "operator": "greater_than", "value": "50"},
    ]
    run = run_workflow(lead, [branch(conditions, [tag("hot"), tag("call")], [tag("cold")]), tag("after")])
    assert run.status == Run.Status.SUCCESS
    assert tags(lead) == ["hot", "call", "after"]
    paths = list(run.step_runs.order_by("id").values_list("path", "type"))
    assert paths == [("0", "branch"), ("0.then.0", "add_tag"), ("0.then.1", "add_tag"), ("1", "add_tag")]
    assert run.step_runs.get(path="0").output == {"matched": True, "branch": "then"}


def test_branch_takes_else_otherwise(crm):
    lead = crm.lead(Score=10)
    conditions = [{"field": "score", "operator": "greater_than", "value": "50"}]
    run = run_workflow(lead, [branch(conditions, [tag("hot")], [tag("cold")])])
    assert run.status == Run.Status.SUCCESS and tags(lead) == ["cold"]


def test_branch_or_logic_and_an_empty_else(crm):
    lead = crm.lead(Score=10)
    conditions = [
        {"field": "score", "operator": "greater_than", "value": "50"},
        {"field": "email", "operator": "contains", "value": "acme"},
    ]
    run = run_workflow(lead, [branch(conditions, [tag("match")], logic="OR")])
    assert tags(lead) == ["match"]
    other = crm.lead(Score=10, Email="x@other.test")
    run = run_workflow(other, [branch(conditions, [tag("match")], logic="OR"), tag("after")])
    assert run.status == Run.Status.SUCCESS and tags(other) == ["after"]


def test_nested_branches(crm):
    inner = branch(
        [{"field": "Score", "operator": "greater_or_equal", "value": 90}],
        [tag("vip"), {"actionType": "update_field", "config": {"field": "Status", "value": "Qualified"}}],
        [tag("warm")],
    )
    outer = branch([{"field": "Source", "operator": "equals", "value": "website"}], [inner, tag("web")], [tag("other")])
    hot, warm, other = crm.lead(Score=95), crm.lead(Score=60), crm.lead(Source="fair")
    for lead in (hot, warm, other):
        assert run_workflow(lead, [outer, tag("end")]).status == Run.Status.SUCCESS
    assert tags(hot) == ["vip", "web", "end"]
    assert task_to_json(task=Task.objects.get(pk=hot.pk))["Status"] == "Qualified"
    assert tags(warm) == ["warm", "web", "end"]
    assert tags(other) == ["other", "end"]


def test_branch_reads_old_values_and_changes_from_the_run_context(crm):
    lead = crm.lead(Score=70)
    conditions = [{"field": "Score", "operator": "changed_from", "value": "10"}]
    context = {"event": {"type": "lead_updated"}, "old": {"Score": "10"}, "changed": ["Score"]}
    run = run_execute(start_workflow(lead, [branch(conditions, [tag("jumped")], [tag("same")])], context=context).pk)
    assert run.status == Run.Status.SUCCESS and tags(lead) == ["jumped"]
    # Without a context, change operators are false.
    other = crm.lead(Score=70)
    run_workflow(other, [branch(conditions, [tag("jumped")], [tag("same")])])
    assert tags(other) == ["same"]


def test_a_failing_nested_action_fails_the_run_at_its_path(crm):
    lead = crm.lead()
    bad = {"actionType": "update_field", "config": {"field": "Score", "value": "{{trigger.source}}"}}
    run = run_workflow(lead, [branch([{"field": "Source", "operator": "is_not_empty"}], [bad]), tag("never")])
    assert run.status == Run.Status.FAIL
    assert run.errors[0].startswith("Step 1 then 1 (Update field) failed") and "Score" in step_error(run)
    assert tags(lead) == []
