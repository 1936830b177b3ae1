"""Demo data for `make run`: the seed's sales flow, a few tasks, and Start/Finish actions whose
Finish calls Flowsite's own demo echo endpoint, so a newcomer sees an API Call change a task; and
one workflow that tags a task and notifies its owner when it reaches Completed, so they see a
workflow fire too. Workflows start only for flows that play a module, so the demo flow plays
"tasks"."""

import os

from django.db import transaction

from actions.models import Action
from actions.services import action_create
from flows.models import Field, Flow, Stage, User
from flows.services import flow_schema_bump, flow_update
from tasks.services import task_create
from workflows.models import Workflow
from workflows.services import workflow_create

FIELDS = [
    ("Company ID", "text", True),
    ("Company Name", "text", False),
    ("Number of Employees", "number", False),
    ("Contract Value", "currency", False),
    ("International?", "checkbox", False),
    ("Expected Close Date", "date", False),
    ("Notes", "longText", False),
]
TASKS = [
    ("42", "Acme Corp", 20, "10000", False, "2020-01-31", "Not Started"),
    ("43", "Globex", 250, "48000", True, "2020-03-15", "In Progress"),
    ("44", "Initech", 80, "12500.50", False, "2020-02-20", "Not Started"),
]


DEMO_WORKFLOW = "Tag and announce completed deals"


@transaction.atomic
def demo_populate(*, flow: Flow, user: User) -> None:
    """Fill the demo flow with a schema, tasks, actions and a workflow, once each (a demo made
    before the workflow existed gets it on the next run)."""
    if flow.module != Flow.Module.TASKS:
        flow_update(actor=user, flow=flow, data={"module": Flow.Module.TASKS})
    _demo_records(flow=flow, user=user)
    if not Workflow.objects.filter(organization=flow.organization, name=DEMO_WORKFLOW).exists():
        workflow_create(
            user=user,
            data={
                "organization": flow.organization.parameterized_name,
                "name": DEMO_WORKFLOW,
                "description": "Runs when a deal reaches Completed, e.g. after Finish.",
                "triggerModule": "tasks",
                "triggerType": "task_completed",
                "flowId": flow.pk,
                "isActive": True,
                "actions": [
                    {"actionType": "add_tag", "config": {"tag": "won"}},
                    {
                        "actionType": "send_notification",
                        "config": {
                            "toOwner": True,
                            "message": "A deal reached Completed; the demo workflow tagged it won.",
                        },
                    },
                ],
            },
        )


def _demo_records(*, flow: Flow, user: User) -> None:
    if flow.fields.exists():
        return
    flow_schema_bump(flows=[flow])
    flow.stages.all().delete()
    Stage.objects.create(flow=flow, name="Not Started", position=0, color="#64748b")
    Stage.objects.create(flow=flow, name="In Progress", position=1, color="#2563eb")
    Stage.objects.create(flow=flow, name="Completed", position=2, color="#16a34a", end_stage=True)
    for position, (name, type_, unique) in enumerate(FIELDS):
        Field.objects.create(flow=flow, name=name, type=type_, unique=unique, position=position)
    for key, name, employees, value, international, close, stage in TASKS:
        task_create(
            flow=flow,
            actor=user,
            source="system",
            data={
                "Company ID": key,
                "Company Name": name,
                "Number of Employees": employees,
                "Contract Value": value,
                "International?": international,
                "Expected Close Date": close,
                "Stage": stage,
                "Assigned To": user.email,
            },
        )
    if Action.objects.filter(flow=flow).exists():
        return
    base = os.environ.get("DEMO_BASE_URL", "http://127.0.0.1:8000")
    action_create(
        flow=flow,
        actor=user,
        data={
            "name": "Start",
            "color": "#2563eb",
            "from_stages": ["Not Started"],
            "steps": [{"type": "move_to_stage", "config": {"stage": "In Progress"}}],
        },
    )
    action_create(
        flow=flow,
        actor=user,
        data={
            "name": "Finish",
            "color": "#16a34a",
            "from_stages": ["In Progress"],
            "steps": [
                {"type": "move_to_stage", "config": {"stage": "Completed"}},
                {
                    "type": "api_call",
                    "config": {
                        "url": f"{base}/demo/echo",
                        "headers": [{"name": "Authorization", "value": "Bearer demo-secret-token"}],
                    },
                },
            ],
        },
    )
