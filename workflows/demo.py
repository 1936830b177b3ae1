"""Demo data for `make run`: the seed's sales flow, a few tasks, and Start/Finish actions whose
Finish calls Flowsite's own demo echo endpoint, so a newcomer sees an API Call change a task."""

import os

from django.db import transaction

from actions.models import Action
from actions.services import action_create
from flows.models import Field, Flow, Stage, User
from flows.services import flow_schema_bump
from tasks.services import task_create

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


@transaction.atomic
def demo_populate(*, flow: Flow, user: User) -> None:
    """Fill the demo flow with a schema, tasks and actions, once."""
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
