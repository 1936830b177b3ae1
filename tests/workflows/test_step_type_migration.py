"""The near-pair merge (update_data -> update_field, email_notification -> send_email) across its
migration: actions and workflows saved in the format main stores today, a run already started
with such a program, then the migrations, then everything run through the engine against a
loopback receiver."""

import importlib
import json

import pytest
from django.apps import apps
from django.core import mail

from actions.engine import run_execute
from actions.models import Run, Step
from actions.services import action_create, action_perform
from tasks.models import Task
from tasks.services import task_to_json
from tests.receivers import Receiver
from tests.workflows.conftest import dispatch_events, run_to_end
from workflows.models import Workflow, WorkflowAction

pytestmark = pytest.mark.django_db

actions_migration = importlib.import_module("actions.migrations.0004_merge_near_pair_step_types")
workflows_migration = importlib.import_module("workflows.migrations.0003_merge_near_pair_step_types")


def migrate() -> None:
    actions_migration.merge_types(apps, None)
    workflows_migration.merge_types(apps, None)


def values(task_id: int) -> dict:
    return task_to_json(task=Task.objects.get(pk=task_id))


def saved_action(crm, url: str):
    """An action whose steps are stored as today's code stores them: written past validation."""
    action = action_create(
        flow=crm.leads,
        actor=crm.world.admin,
        data={"name": "Close", "from_stages": ["New"], "steps": [{"type": "delete_task", "config": {}}]},
    )
    action.steps.all().delete()
    rows = [
        ("api_call", {"url": url, "method": "POST", "headers": []}),
        ("update_data", {"values": {"Notes": "Closed {{task.Company Name}}"}}),
        (
            "email_notification",
            {"recipients": ["assignee", "boss@example.com"], "subject": "{{task.Company Name}}", "body": "Done"},
        ),
    ]
    for position, (type_name, config) in enumerate(rows):
        Step.objects.create(action=action, type=type_name, config=config, position=position)
    return action


def saved_workflow(crm, url: str) -> Workflow:
    workflow = Workflow.objects.create(
        organization=crm.org,
        flow=crm.leads,
        name="New lead",
        trigger_module="leads",
        trigger_type="lead_created",
        is_active=True,
    )
    rows = [
        ("webhook", {"url": url, "method": "POST", "headers": [], "maxAttempts": 1}),
        ("update_data", {"values": {"Score": "7"}}),
        (
            "branch",
            {
                "logic": "AND",
                "conditions": [{"field": "Source", "operator": "equals", "value": "website"}],
                "then": [
                    {
                        "actionType": "email_notification",
                        "config": {"recipients": ["assignee"], "subject": "Lead {{trigger.Company Name}}", "body": "!"},
                    }
                ],
                "else": [],
            },
        ),
    ]
    for order, (type_name, config) in enumerate(rows, start=1):
        WorkflowAction.objects.create(workflow=workflow, action_type=type_name, config=config, sort_order=order)
    return workflow


def test_stored_actions_workflows_and_runs_keep_running_across_the_migration(crm, api):
    rep = crm.reps[0]
    with Receiver() as receiver:
        receiver.set_response(status=200, body=b"{}", headers={"Content-Type": "application/json"})
        action = saved_action(crm, receiver.url_for("/close"))
        lead = crm.lead(**{"Assigned To": rep.email, "Company Name": "Old Co"})
        # Started before the migration: its program holds the old names and shapes.
        in_flight = action_perform(action=action, task=lead, actor=crm.world.admin)
        assert [step["type"] for step in in_flight.program] == ["api_call", "update_data", "email_notification"]
        workflow = saved_workflow(crm, receiver.url_for("/lead"))
        dispatch_events()  # the lead above predates the workflow's rows being read: no run for it
        Run.objects.filter(workflow=workflow).delete()

        migrate()

        # The rows say the types' own names now, in their own config shapes.
        assert list(action.steps.values_list("type", "config")) == [
            ("api_call", {"url": receiver.url_for("/close"), "method": "POST", "headers": []}),
            ("update_field", {"fields": {"Notes": "Closed {{task.Company Name}}"}}),
            ("send_email", {"to": ["owner", "boss@example.com"], "subject": "{{task.Company Name}}", "body": "Done"}),
        ]
        stored = {row.action_type: row.config for row in WorkflowAction.objects.filter(workflow=workflow)}
        assert stored["update_field"] == {"fields": {"Score": "7"}}
        assert stored["branch"]["then"] == [
            {
                "actionType": "send_email",
                "config": {"to": ["owner"], "subject": "Lead {{trigger.Company Name}}", "body": "!"},
            }
        ]
        assert "update_data" not in stored and "email_notification" not in stored
        # The APIs read them back under those names.
        read = api(crm.world.admin).get(f"/api/workflows/{workflow.pk}").json()
        assert [a["actionType"] for a in read["actions"]] == ["webhook", "update_field", "branch"]

        # The run started before the migration finishes as it would have.
        run = run_execute(in_flight.pk)
        assert run.status == "success", run.errors
        assert json.loads(receiver.requests[0].body)["task"]["Company Name"] == "Old Co"
        assert values(lead.pk)["Notes"] == "Closed Old Co"
        assert mail.outbox[0].to == [rep.email, "boss@example.com"] and mail.outbox[0].subject == "Old Co"

        # The migrated action, performed now, does the same.
        other = crm.lead(**{"Assigned To": rep.email, "Company Name": "New Co"})
        mail.outbox.clear()
        run = run_execute(action_perform(action=action, task=other, actor=crm.world.admin).pk)
        assert run.status == "success", run.errors
        assert values(other.pk)["Notes"] == "Closed New Co"
        assert mail.outbox[0].to == [rep.email, "boss@example.com"]

        # The migrated workflow fires on a new lead: webhook, field, branch with its email.
        mail.outbox.clear()
        newest = crm.lead(**{"Assigned To": rep.email, "Company Name": "Hot Lead"})
        dispatch_events()
        [run] = Run.objects.filter(workflow=workflow, task_id=newest.pk)
        run = run_to_end(run)
        assert run.status == "success", run.errors
        assert receiver.requests[-1].path == "/lead"
        assert values(newest.pk)["Score"] == "7"
        assert [m.subject for m in mail.outbox] == ["Lead Hot Lead"] and mail.outbox[0].to == [rep.email]
