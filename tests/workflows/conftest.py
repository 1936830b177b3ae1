"""An organization with CRM flows (leads, opportunities, projects, tasks) and a helper that runs
workflow actions through the real engine: validate as the API would, save the Workflow and its
WorkflowActions, build the program the dispatcher builds, run_create + run_execute."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from actions.engine import run_create, run_execute
from actions.models import Run
from actions.steps.base import get_step_type
from flows.models import Field, Stage
from tasks.services import task_create
from tests.factories import UserFactory, add_flow_member, add_org_member, make_flow
from workflows.dispatch import events_dispatch
from workflows.models import Workflow, WorkflowAction


def dispatch_events() -> int:
    """What the worker does when a task write rings: dispatch the pending task events to the
    workflows (they are an outbox; nothing in the write's request starts a run). Returns how many."""
    return events_dispatch()


def set_stages(flow, stages: list[tuple[str, dict]]) -> dict[str, Stage]:
    flow.stages.all().delete()
    return {
        name: Stage.objects.create(flow=flow, name=name, position=position, **extra)
        for position, (name, extra) in enumerate(stages)
    }


def set_fields(flow, fields: list[tuple]) -> None:
    for position, (name, type_, *extra) in enumerate(fields):
        Field.objects.create(flow=flow, name=name, type=type_, position=position, **(extra[0] if extra else {}))


class Crm:
    def __init__(self, world):
        self.world = world
        org, admin = world.org, world.admin
        self.org = org
        self.leads = make_flow(org, admin, name="Leads", module="leads")
        self.lead_stages = set_stages(
            self.leads,
            [
                ("New", {}),
                ("Qualified", {}),
                ("Converted", {"end_stage": True, "outcome": "converted"}),
                ("Lost", {"end_stage": True, "outcome": "lost"}),
            ],
        )
        set_fields(
            self.leads,
            [
                ("Company Name", "text"),
                ("Source", "text"),
                ("Email", "email"),
                ("Phone", "phone"),
                ("Score", "number"),
                ("Amount", "currency"),
                ("Octet", "text"),
                ("Path", "text"),
                ("Notes", "longText"),
                ("Status", "singleSelect", {"options": ["New", "Qualified", "Qualified website"]}),
            ],
        )
        self.opportunities = make_flow(org, admin, name="Opportunities", module="opportunities")
        set_stages(
            self.opportunities,
            [
                ("Prospecting", {}),
                ("Negotiation", {}),
                ("Won", {"end_stage": True, "outcome": "won"}),
                ("Lost", {"end_stage": True, "outcome": "lost"}),
            ],
        )
        set_fields(
            self.opportunities,
            [
                ("Number", "uniqueId", {"unique": True, "editable": False}),
                ("Company Name", "text", {"required": True}),
                ("Email", "email"),
                ("Amount", "currency"),
                ("Score", "date"),  # a number will not fit: skipped
                ("Notes", "longText"),
            ],
        )
        self.projects = make_flow(org, admin, name="Projects", module="projects")
        set_stages(self.projects, [("Planned", {}), ("Running", {}), ("Completed", {"end_stage": True})])
        set_fields(self.projects, [("Company Name", "text"), ("Amount", "currency"), ("Kickoff", "date")])
        self.tasks = make_flow(org, admin, name="Follow-ups", module="tasks")
        set_fields(self.tasks, [("Name", "text", {"required": True}), ("Due", "date"), ("Notes", "longText")])

        self.reps = [
            UserFactory(email=f"rep{n}@example.com", first_name=f"Rep{n}", last_name="Sales") for n in (1, 2, 3)
        ]
        for rep in self.reps:
            add_org_member(org, rep)
            add_flow_member(self.leads, rep)
            add_flow_member(self.opportunities, rep)
        add_flow_member(self.tasks, self.reps[0])
        add_flow_member(self.leads, world.member)

    def lead(self, **data):
        values = {"Company Name": "Acme Corp", "Source": "website", "Email": "buyer@acme.test", **data}
        return task_create(flow=self.leads, actor=self.world.admin, data=values)


@pytest.fixture
def crm(world, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.01
    return Crm(world)


def to_program(actions: list[dict], prefix: str = "") -> list[dict]:
    """What the dispatcher does: API actions {"actionType", "config"} -> program steps {"id", "type", "config"}."""
    program = []
    for index, action in enumerate(actions):
        type_name = action.get("actionType") or action.get("type")
        config = dict(action.get("config") or {})
        step_id = str(action.get("id") or f"{prefix}{index}")
        if type_name == "branch":
            for label in ("then", "else"):
                config[label] = to_program(config.get(label) or [], f"{step_id}.{label}.")
        program.append({"id": step_id, "type": type_name, "config": config})
    return program


def start_workflow(task, actions: list[dict], *, context: dict | None = None, name: str = "Test workflow") -> Run:
    """Validate and save the actions as the API would, then create (not execute) the run."""
    flow = task.flow
    # Inactive, so the dispatcher never starts runs of its own from the tasks these tests change.
    workflow = Workflow.objects.create(
        organization=flow.organization,
        flow=flow,
        name=name,
        trigger_module=flow.module or "tasks",
        trigger_type=f"{(flow.module or 'tasks').rstrip('s')}_created",
        is_active=False,
    )
    saved = []
    for index, action in enumerate(actions, start=1):
        config = get_step_type(action["actionType"]).validate(
            action.get("config") or {}, flow=flow, organization=flow.organization
        )
        row = WorkflowAction.objects.create(
            workflow=workflow, action_type=action["actionType"], config=config, sort_order=index
        )
        saved.append({"id": str(row.pk), "actionType": row.action_type, "config": config})
    return run_create(
        kind="workflow",
        flow=flow,
        task=task,
        name=workflow.name,
        program=to_program(saved),
        workflow=workflow,
        context=context or {},
    )


def run_workflow(task, actions: list[dict], **kwargs) -> Run:
    run = start_workflow(task, actions, **kwargs)
    return run_execute(run.pk)


def run_to_end(run: Run, *, timeout: float = 20.0) -> Run:
    """Execute a run again each time its wait (a retry) is due, until it finishes."""
    deadline = time.monotonic() + timeout
    run = run_execute(run.pk) or Run.objects.get(pk=run.pk)
    while run.status not in (Run.Status.SUCCESS, Run.Status.FAIL):
        assert time.monotonic() < deadline, f"run {run.pk} still {run.status}"
        if run.status == Run.Status.WAITING and run.wake_at and run.wake_at > timezone.now():
            time.sleep(min(0.02, (run.wake_at - timezone.now()).total_seconds() + 0.001))
            continue
        run = run_execute(run.pk) or Run.objects.get(pk=run.pk)
    return run


def step_error(run: Run) -> str:
    return run.step_runs.filter(status="fail").values_list("error", flat=True).first() or ""
