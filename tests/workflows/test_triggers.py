"""Every trigger type, caused the way people cause them: through the Task API."""

import datetime

import pytest

from actions.engine import run_execute
from actions.models import Run
from tasks.models import Task, TaskLink
from tests.workflows.conftest import dispatch_events
from tests.workflows.crm import crm  # noqa: F401  (overrides the conftest fixture)
from workflows.jobs import overdue_sweep

pytestmark = pytest.mark.django_db

NOTE = [{"actionType": "move_to_stage", "config": {"stage": "{stage}"}}]


def workflow(api, admin, module, trigger, filters=None, actions=None):
    response = api(admin).post(
        "/api/workflows",
        {
            "name": f"On {trigger}",
            "triggerModule": module,
            "triggerType": trigger,
            "triggerFilters": filters or {},
            "actions": actions or [],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def runs_of(workflow_id):
    return list(Run.objects.filter(workflow_id=workflow_id))


def tasks_url(flow):
    return f"/api/flows/acme/{flow.parameterized_name}/tasks"


@pytest.fixture
def client(crm, api):
    return api(crm.world.admin)


def create(client, flow, data):
    response = client.post(tasks_url(flow), data, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def update(client, flow, task_id, data):
    response = client.patch(f"{tasks_url(flow)}/{task_id}", data, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.mark.parametrize(
    "module,trigger,flow_attr",
    [
        ("leads", "lead_created", "leads"),
        ("contacts", "contact_created", "contacts"),
        ("accounts", "account_created", "accounts"),
        ("opportunities", "opportunity_created", "opportunities"),
        ("tasks", "task_created", "tasks"),
        ("projects", "project_created", "projects"),
    ],
)
def test_created(crm, api, client, module, trigger, flow_attr):
    wf = workflow(api, crm.world.admin, module, trigger)
    task = create(client, getattr(crm, flow_attr), {})
    dispatch_events()
    [run] = runs_of(wf)
    assert run.task_id == task["id"] and run.context["event"]["type"] == trigger


def test_filters_decide(crm, api, client):
    wf = workflow(
        api,
        crm.world.admin,
        "leads",
        "lead_created",
        {"logic": "AND", "conditions": [{"field": "source", "operator": "equals", "value": "website"}]},
    )
    create(client, crm.leads, {"Source": "referral"})
    create(client, crm.leads, {"Source": "Website"})
    dispatch_events()
    assert len(runs_of(wf)) == 1


@pytest.mark.parametrize(
    "module,trigger,flow_attr,change",
    [
        ("leads", "lead_updated", "leads", {"Company Name": "New"}),
        ("contacts", "contact_updated", "contacts", {"Name": "X"}),
        ("accounts", "account_updated", "accounts", {"Name": "X"}),
        ("opportunities", "opportunity_updated", "opportunities", {"Amount": "5"}),
        ("tasks", "task_updated", "tasks", {"Title": "X"}),
        ("projects", "project_updated", "projects", {"Company Name": "X"}),
        ("leads", "lead_stage_changed", "leads", {"Stage": "Contacted"}),
        ("opportunities", "opportunity_stage_changed", "opportunities", {"Stage": "Won"}),
        ("projects", "project_status_changed", "projects", {"Stage": "Active"}),
        ("leads", "lead_score_changed", "leads", {"Score": 50}),
        ("leads", "lead_converted", "leads", {"Stage": "Converted"}),
        ("opportunities", "opportunity_won", "opportunities", {"Stage": "Won"}),
        ("opportunities", "opportunity_lost", "opportunities", {"Stage": "Lost"}),
        ("tasks", "task_completed", "tasks", {"Stage": "Done"}),
        ("projects", "project_completed", "projects", {"Stage": "Delivered"}),
        ("leads", "lead_assigned", "leads", {"Assigned To": "flowie@example.com"}),
        ("contacts", "contact_assigned", "contacts", {"Assigned To": "flowie@example.com"}),
        ("accounts", "account_assigned", "accounts", {"Assigned To": "flowie@example.com"}),
        ("opportunities", "opportunity_assigned", "opportunities", {"Assigned To": "flowie@example.com"}),
    ],
)
def test_changes(crm, api, client, module, trigger, flow_attr, change):
    flow = getattr(crm, flow_attr)
    task = create(client, flow, {})
    dispatch_events()  # the creation was dispatched before the workflow existed
    wf = workflow(api, crm.world.admin, module, trigger)
    update(client, flow, task["id"], change)
    dispatch_events()
    [run] = runs_of(wf)
    assert run.task_id == task["id"]
    assert run.context["changed"] == list(change)


def test_unrelated_changes_do_not_fire(crm, api, client):
    task = create(client, crm.leads, {})
    dispatch_events()  # the creation was dispatched before the workflows existed
    stage_wf = workflow(api, crm.world.admin, "leads", "lead_stage_changed")
    score_wf = workflow(api, crm.world.admin, "leads", "lead_score_changed")
    won_wf = workflow(api, crm.world.admin, "opportunities", "opportunity_won")
    update(client, crm.leads, task["id"], {"Company Name": "Still new"})
    update(client, crm.leads, task["id"], {"Assigned To": None})
    dispatch_events()
    assert runs_of(stage_wf) == runs_of(score_wf) == runs_of(won_wf) == []


def test_change_operators_see_old_and_new(crm, api, client):
    task = create(client, crm.leads, {"Score": 10})
    wf = workflow(
        api,
        crm.world.admin,
        "leads",
        "lead_score_changed",
        {
            "logic": "AND",
            "conditions": [
                {"field": "Score", "operator": "changed_from", "value": "10"},
                {"field": "score", "operator": "greater_than", "value": 40},
            ],
        },
    )
    update(client, crm.leads, task["id"], {"Score": 30})
    update(client, crm.leads, task["id"], {"Score": 10})
    update(client, crm.leads, task["id"], {"Score": 90})
    dispatch_events()
    [run] = runs_of(wf)
    assert run.context["old"] == {"Score": "10"}


def test_inactive_workflows_and_other_flows_do_not_fire(crm, api, client):
    wf = workflow(api, crm.world.admin, "leads", "lead_created")
    api(crm.world.admin).patch(f"/api/workflows/{wf}/toggle")
    create(client, crm.leads, {})
    create(client, crm.tasks, {})
    dispatch_events()
    assert runs_of(wf) == []


def test_overdue_fires_once_per_due_date(crm, api, client):
    wf = workflow(api, crm.world.admin, "tasks", "task_overdue")
    project_wf = workflow(api, crm.world.admin, "projects", "project_task_overdue")
    yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    tomorrow = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()
    late = create(client, crm.tasks, {"Title": "Late", "Due Date": yesterday})
    create(client, crm.tasks, {"Title": "Fine", "Due Date": tomorrow})
    create(client, crm.tasks, {"Title": "Done", "Due Date": yesterday, "Stage": "Done"})
    project = create(client, crm.projects, {"Company Name": "Big build"})
    TaskLink.objects.create(from_task_id=project["id"], to_task_id=late["id"], relation=TaskLink.Relation.PROJECT_TASK)
    assert overdue_sweep() == 1
    assert overdue_sweep() == 0
    [run] = runs_of(wf)
    assert run.task_id == late["id"] and run.context["event"]["type"] == "task_overdue"
    [project_run] = runs_of(project_wf)
    assert project_run.task_id == project["id"] and project_run.context["event"]["task"] == late["id"]
    earlier = (datetime.date.today() - datetime.timedelta(days=3)).isoformat()
    update(client, crm.tasks, late["id"], {"Due Date": earlier})
    assert overdue_sweep() == 1
    assert len(runs_of(wf)) == 2


def test_workflow_loops_are_bounded(crm, api, client, settings):
    """A workflow that updates its own trigger's field would loop forever; the chain stops at
    MAX_WORKFLOW_DEPTH with a failed run saying why."""
    settings.MAX_WORKFLOW_DEPTH = 3
    wf = workflow(
        api,
        crm.world.admin,
        "leads",
        "lead_updated",
        actions=[{"actionType": "update_data", "config": {"values": {"Company Name": "Loop"}}}],
    )
    task = create(client, crm.leads, {"Company Name": "Start", "Score": 1})
    update(client, crm.leads, task["id"], {"Score": 2})
    dispatch_events()
    # Each run's change is a new update event; alternate the value so every run changes something.
    for _ in range(10):
        pending = Run.objects.filter(workflow_id=wf, status=Run.Status.PENDING).order_by("pk").first()
        if pending is None:
            break
        Task.objects.filter(pk=task["id"]).update(data={})  # make the next run's update a real change
        run_execute(pending.pk)
        dispatch_events()
    runs = list(Run.objects.filter(workflow_id=wf).order_by("pk"))
    assert [r.depth for r in runs] == [0, 1, 2, 3]
    assert [r.status for r in runs] == ["success", "success", "success", "fail"]
    assert "limit is 3" in runs[-1].errors[0]


def test_a_bulk_change_starts_its_runs_in_a_few_statements(crm, api, settings, django_capture_on_commit_callbacks):
    """An import or a bulk change records many events in one commit: the dispatcher matches them
    together, with as many statements for eight tasks as for two, and starts the runs in order."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from tasks.models import Task, TaskEvent
    from tasks.services import task_events_record

    wf = workflow(api, crm.world.admin, "leads", "lead_created")
    new = crm.leads.stages.get(name="New")
    settings.RUN_DOORBELLS_PER_COMMIT = 1  # the rest are drained from the table (tests/actions/test_drain.py)

    def burst(count):
        with transaction.atomic():
            tasks = Task.objects.bulk_create([Task(flow=crm.leads, stage=new, data={}, tags=[]) for _ in range(count)])
            items = [(task, TaskEvent.Kind.CREATED, {"Stage": [None, "New"]}) for task in tasks]
            task_events_record(flow=crm.leads, items=items, actor=None, source="api")
        # The dispatch, with the doorbells of the runs it starts.
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
            assert dispatch_events() == count
        return tasks, len(queries)

    burst(1)  # the first dispatch reads the flow's fields into the process's schema cache
    _, two = burst(2)
    tasks, eight = burst(8)
    assert eight == two
    runs = Run.objects.filter(workflow_id=wf, task__in=tasks).order_by("pk")
    assert [run.task_id for run in runs] == [task.pk for task in tasks]
