"""Actions that change records: update_field, add_tag, create_task, create_opportunity, create_project."""

import pytest

from actions.engine import run_execute
from actions.models import Run
from flows.models import FlowMembership
from tasks.models import Task, TaskLink
from tasks.services import task_set_assignee, task_to_json, task_update
from tests.workflows.conftest import run_workflow, start_workflow, step_error

pytestmark = pytest.mark.django_db


def fresh(task):
    return task_to_json(task=Task.objects.get(pk=task.pk))


# --- update_field ------------------------------------------------------------------------------


def test_update_field_interpolates_the_value(crm):
    task = crm.lead()
    run = run_workflow(
        task, [{"actionType": "update_field", "config": {"field": "Status", "value": "Qualified {{trigger.source}}"}}]
    )
    assert run.status == Run.Status.SUCCESS
    assert fresh(task)["Status"] == "Qualified website"
    event = task.events.order_by("id").last()
    assert event.source == "workflow" and event.depth == 1


def test_update_field_several_fields_and_builtins(crm):
    task = crm.lead()
    config = {"fields": {"Notes": "from {{trigger.companyName}} <{{trigger.email}}>", "Stage": "Qualified", "Score": 7}}
    assert run_workflow(task, [{"actionType": "update_field", "config": config}]).status == Run.Status.SUCCESS
    after = fresh(task)
    assert (after["Notes"], after["Stage"], after["Score"]) == ("from Acme Corp <buyer@acme.test>", "Qualified", "7")


def test_update_field_refused_value_fails_and_changes_nothing(crm):
    task = crm.lead(Notes="keep")
    before = fresh(task)
    run = run_workflow(
        task,
        [{"actionType": "update_field", "config": {"fields": {"Notes": "changed", "Score": "{{trigger.source}}"}}}],
    )
    assert run.status == Run.Status.FAIL
    assert "Score: must be a number" in step_error(run)
    assert fresh(task) == before


def test_update_field_on_a_field_deleted_since_saving_fails_clearly(crm):
    task = crm.lead()
    run = start_workflow(task, [{"actionType": "update_field", "config": {"field": "Notes", "value": "x"}}])
    crm.leads.fields.filter(name="Notes").delete()
    run = run_execute(run.pk)
    assert run.status == Run.Status.FAIL
    assert "Notes: is not a field of this flow" in step_error(run)


def test_hostile_values_stay_literal(crm):
    # A value that itself looks like a placeholder is inserted as is, never expanded again,
    # and dunder names are not placeholders at all.
    task = crm.lead(Source="{{trigger.email}}")
    config = {"fields": {"Notes": "{{trigger.source}} | {{trigger.__class__}} | {{ trigger.Company Name }}"}}
    assert run_workflow(task, [{"actionType": "update_field", "config": config}]).status == Run.Status.SUCCESS
    assert fresh(task)["Notes"] == "{{trigger.email}} | {{trigger.__class__}} | Acme Corp"


# --- add_tag -----------------------------------------------------------------------------------


def test_add_tag_and_tags_keep_existing_ones(crm):
    task = crm.lead()
    task_update(task=task, actor=None, data={"Tags": ["existing"]}, source="api")
    run = run_workflow(
        task,
        [
            {"actionType": "add_tag", "config": {"tag": "vip"}},
            {"actionType": "add_tag", "config": {"tags": ["src-{{trigger.source}}", "VIP", "{{trigger.notes}}"]}},
        ],
    )
    assert run.status == Run.Status.SUCCESS
    assert fresh(task)["Tags"] == ["existing", "vip", "src-website"]


def test_add_tag_refused_when_the_value_makes_it_too_long(crm):
    task = crm.lead(Notes="x" * 80)
    run = run_workflow(task, [{"actionType": "add_tag", "config": {"tag": "n-{{trigger.notes}}"}}])
    assert run.status == Run.Status.FAIL
    assert "Tags" in step_error(run) and fresh(task)["Tags"] == []


# --- create_task -------------------------------------------------------------------------------


def create_task_config(**extra):
    return {"fields": {"Name": "Call {{trigger.companyName}}", "Due": "2030-01-31"}, **extra}


def test_create_task_makes_a_linked_follow_up(crm):
    lead = crm.lead()
    task_set_assignee(task=lead, actor=None, assignee=crm.reps[0], source="api")
    config = create_task_config(stage="In Progress", assignTo="owner")
    run = run_workflow(lead, [{"actionType": "create_task", "config": config}])
    assert run.status == Run.Status.SUCCESS
    link = TaskLink.objects.get(from_task=lead)
    assert link.relation == "follow_up"
    follow_up = task_to_json(task=link.to_task)
    assert link.to_task.flow == crm.tasks
    assert (follow_up["Name"], follow_up["Due"], follow_up["Stage"]) == ("Call Acme Corp", "2030-01-31", "In Progress")
    assert follow_up["Assigned To"] == "rep1@example.com"
    assert run.step_runs.get().output == {"flow": "Follow-ups", "task_id": link.to_task_id}
    assert link.to_task.events.get().source == "workflow"


def test_create_task_assigned_by_email(crm):
    lead = crm.lead()
    run = run_workflow(lead, [{"actionType": "create_task", "config": create_task_config(assignTo="rep1@example.com")}])
    assert run.status == Run.Status.SUCCESS
    assert TaskLink.objects.get(from_task=lead).to_task.assignee == crm.reps[0]


def test_create_task_refused_by_the_tasks_flow_fails_with_reasons(crm):
    lead = crm.lead()
    run = run_workflow(lead, [{"actionType": "create_task", "config": {"fields": {"Due": "{{trigger.source}}"}}}])
    assert run.status == Run.Status.FAIL
    error = step_error(run)
    assert "refused by Follow-ups" in error and "Name: is required" in error and "Due:" in error
    assert not TaskLink.objects.exists() and not crm.tasks.tasks.exists()


def test_create_task_without_a_tasks_flow_fails_clearly(crm):
    lead = crm.lead()
    config = {"actionType": "create_task", "config": create_task_config()}
    crm.tasks.disabled = True
    crm.tasks.save()
    run = run_workflow(lead, [config])
    assert run.status == Run.Status.FAIL
    assert 'no enabled flow with the module "tasks"' in step_error(run)


def test_create_task_assignee_who_left_fails(crm):
    lead = crm.lead()
    config = create_task_config(assignTo=crm.reps[0].pk)
    FlowMembership.objects.filter(flow=crm.tasks, user=crm.reps[0]).delete()
    run = run_workflow(lead, [{"actionType": "create_task", "config": config}])
    assert run.status == Run.Status.FAIL and "is not a member of Follow-ups" in step_error(run)


# --- create_opportunity / create_project --------------------------------------------------------


def test_create_opportunity_copies_fields_links_and_converts_the_lead(crm):
    lead = crm.lead(Amount="1200.50", Score=12, Notes="hot", Phone="+15551234567")
    task_set_assignee(task=lead, actor=None, assignee=crm.reps[1], source="api")
    task_update(task=lead, actor=None, data={"Tags": ["vip"]}, source="api")
    config = {"stage": "Negotiation", "fields": {"Notes": "From lead {{trigger.id}}: {{trigger.notes}}"}}
    run = run_workflow(lead, [{"actionType": "create_opportunity", "config": config}])
    assert run.status == Run.Status.SUCCESS, step_error(run)
    link = TaskLink.objects.get(from_task=lead)
    assert link.relation == "opportunity" and link.to_task.flow == crm.opportunities
    opportunity = task_to_json(task=link.to_task)
    assert opportunity["Company Name"] == "Acme Corp"
    assert opportunity["Email"] == "buyer@acme.test"
    assert opportunity["Amount"] == "1200.5"
    assert opportunity["Notes"] == f"From lead {lead.pk}: hot"
    assert opportunity["Stage"] == "Negotiation"
    assert opportunity["Assigned To"] == "rep2@example.com"
    assert opportunity["Tags"] == ["vip"]
    assert opportunity["Number"] == "1"
    output = run.step_runs.get().output
    assert output["opportunity_id"] == link.to_task_id and output["converted"] is True
    assert set(output["skipped"]) == {"Score", "Source", "Phone"}
    assert fresh(lead)["Stage"] == "Converted"
    converted = lead.events.order_by("id").last()
    assert converted.changes["Stage"] == ["New", "Converted"] and converted.source == "workflow"


def test_create_opportunity_twice_keeps_one(crm):
    lead = crm.lead()
    action = [{"actionType": "create_opportunity", "config": {}}]
    run_workflow(lead, action)
    again = run_workflow(lead, action)
    assert again.status == Run.Status.SUCCESS and again.step_runs.get().output["existing"] is True
    assert crm.opportunities.tasks.count() == 1


def test_create_opportunity_missing_required_value_fails_and_leaves_the_lead(crm):
    lead = crm.lead(**{"Company Name": ""})
    run = run_workflow(lead, [{"actionType": "create_opportunity", "config": {}}])
    assert run.status == Run.Status.FAIL
    assert "Company Name: is required" in step_error(run)
    assert fresh(lead)["Stage"] == "New" and not TaskLink.objects.exists()


def test_create_opportunity_refused_override_fails(crm):
    lead = crm.lead()
    run = run_workflow(lead, [{"actionType": "create_opportunity", "config": {"fields": {"Amount": "lots"}}}])
    assert run.status == Run.Status.FAIL and "Amount" in step_error(run)


def test_create_opportunity_only_from_a_leads_flow(crm):
    opportunity = Task.objects.create(flow=crm.opportunities, stage=crm.opportunities.stages.first(), data={})
    run = run_workflow(opportunity, [{"actionType": "create_project", "config": {}}])
    assert run.status == Run.Status.SUCCESS  # create_project works from opportunities
    from actions.steps.base import StepConfigError

    with pytest.raises(StepConfigError):
        run_workflow(opportunity, [{"actionType": "create_opportunity", "config": {}}])


def test_create_project_from_an_opportunity(crm):
    lead = crm.lead(Amount="5000")
    run_workflow(lead, [{"actionType": "create_opportunity", "config": {}}])
    opportunity = TaskLink.objects.get(from_task=lead).to_task
    run = run_workflow(opportunity, [{"actionType": "create_project", "config": {"fields": {"Kickoff": "2030-02-01"}}}])
    assert run.status == Run.Status.SUCCESS, step_error(run)
    link = TaskLink.objects.get(from_task=opportunity)
    assert link.relation == "project" and link.to_task.flow == crm.projects
    project = task_to_json(task=link.to_task)
    assert (project["Company Name"], project["Amount"], project["Kickoff"], project["Stage"]) == (
        "Acme Corp",
        "5000",
        "2030-02-01",
        "Planned",
    )
    assert "Number" in run.step_runs.get().output["skipped"]


def test_create_project_without_a_projects_flow_fails(crm):
    lead = crm.lead()
    run_workflow(lead, [{"actionType": "create_opportunity", "config": {}}])
    opportunity = TaskLink.objects.get(from_task=lead).to_task
    crm.projects.delete()
    run = run_workflow(opportunity, [{"actionType": "create_project", "config": {}}])
    assert run.status == Run.Status.FAIL and 'no enabled flow with the module "projects"' in step_error(run)
