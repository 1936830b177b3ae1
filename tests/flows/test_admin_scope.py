"""The Django admin is no way around who may read task data: a superuser sees every row; staff who
are not superusers, even with a model's view permission, see only rows of flows whose tasks they may
read as a person (flows.selectors.flow_readable_ids)."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from actions.engine import run_create
from actions.models import Run, StepRun
from tasks.models import Comment, Mention, Notification, Task, TaskEvent
from tasks.services import task_create
from tests.factories import UserFactory, add_flow_member, add_org_member, make_flow

pytestmark = pytest.mark.django_db

MODELS = {
    "tasks/task": Task,
    "tasks/taskevent": TaskEvent,
    "tasks/comment": Comment,
    "tasks/mention": Mention,
    "tasks/notification": Notification,
    "actions/run": Run,
    "actions/steprun": StepRun,
}


@pytest.fixture
def rows(world):
    """One of each task-carrying row in a flow the staff member reads and in one they do not."""
    readable = make_flow(world.org, world.admin, name="Open Book")
    hidden = make_flow(world.org, world.admin, name="Closed Book")
    made = {}
    for flow in (readable, hidden):
        task = task_create(flow=flow, actor=world.admin, data={})
        comment = Comment.objects.create(task=task, author=world.admin, body="hello")
        run = run_create(kind=Run.Kind.ACTION, flow=flow, task=task, name="Go", program=[])
        made[flow.pk] = {
            Task: task,
            TaskEvent: TaskEvent.objects.get(task=task),
            Comment: comment,
            Mention: Mention.objects.create(comment=comment, task=task, flow=flow, user=world.admin),
            Notification: Notification.objects.create(user=world.admin, flow=flow, task=task, message="hi"),
            Run: run,
            StepRun: StepRun.objects.create(run=run, path="0", type="api_call", idempotency_key=f"k{run.pk}"),
        }
    return readable, hidden, made


def staff_client(world, readable) -> Client:
    staff = UserFactory(email="operator@example.com", is_staff=True)
    add_org_member(world.org, staff)
    add_flow_member(readable, staff)
    codenames = [f"view_{model._meta.model_name}" for model in MODELS.values()]
    staff.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.parametrize("path", MODELS)
def test_staff_who_are_not_superusers_see_only_rows_of_flows_they_may_read(world, rows, path):
    readable, hidden, made = rows
    model = MODELS[path]
    client = staff_client(world, readable)
    mine, theirs = made[readable.pk][model], made[hidden.pk][model]
    changelist = client.get(f"/admin/{path}/")
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert f"/admin/{path}/{mine.pk}/change/" in html
    assert f"/admin/{path}/{theirs.pk}/change/" not in html
    assert client.get(f"/admin/{path}/{mine.pk}/change/").status_code == 200
    # Django's admin answers a row outside the queryset by redirecting to the index ("does not exist").
    answer = client.get(f"/admin/{path}/{theirs.pk}/change/")
    assert answer.status_code == 302 and answer["Location"] == "/admin/"


@pytest.mark.parametrize("path", MODELS)
def test_superusers_see_every_row(world, rows, path):
    readable, hidden, made = rows
    model = MODELS[path]
    root = UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(root)
    html = client.get(f"/admin/{path}/").content.decode()
    for flow in (readable, hidden):
        assert f"/admin/{path}/{made[flow.pk][model].pk}/change/" in html
