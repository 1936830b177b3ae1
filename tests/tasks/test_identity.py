"""One name for a task everywhere (tasks.identity): the unique key's value when the task has one, else
"#<id>" - on the card, the task page's title, the Flow Builder's test dropdown, action runs and
workflow runs; and run pages in words."""

import html
import re

import pytest
from django.test import Client

from actions.engine import run_execute
from actions.services import action_perform
from tasks.models import Notification
from tasks.services import task_create
from tests.actions.conftest import receiver, seed  # noqa: F401  (the seed's flow and a loopback receiver)

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def test_a_task_with_a_key_is_named_by_it_everywhere(seed, receiver):
    receiver.set_response(status=500, body=b"nope")
    check = seed.action("Check", [{"type": "api_call", "config": {"url": receiver.url}}])
    run = run_execute(action_perform(action=check, task=seed.task, actor=seed.world.admin).pk)
    client = Client()
    client.force_login(seed.world.admin)
    task_url = f"/flows/acme/sales/tasks/{seed.task.pk}"

    board = client.get("/flows/acme/sales").content.decode()
    assert f'<a class="title" href="{task_url}">42</a>' in board
    page = client.get(task_url).content.decode()
    assert "<title>Task 42 · Sales · Flowsite</title>" in page and "<h1>Task 42</h1>" in page
    modal = html.unescape(
        client.get(f"/flows/acme/sales/builder/actions/a{check.pk}/steps/new/api_call", **HX).content.decode()
    )
    assert re.search(rf'<option value="{seed.task.pk}">42 · In Progress · Acme Corp', modal), modal
    runs = client.get("/flows/acme/sales/runs").content.decode()
    assert f'<a href="{task_url}">42</a>' in runs
    run_page = client.get(f"/flows/acme/sales/runs/{run.pk}").content.decode()
    assert f'<a href="{task_url}">42</a>' in run_page and f">Task {seed.task.pk}<" not in run_page

    # The failure in words: the alert's steps, the notification's kind.
    alert = client.get(f"/flows/acme/sales/runs/{run.pk}", **HX).content.decode()
    assert "<li>API Call: failed — the API answered 500: nope</li>" in alert
    assert "api_call: fail" not in alert
    assert Notification.objects.filter(user=seed.world.admin, kind="action_failed").exists()
    notifications = client.get("/notifications").content.decode()
    assert ">Action failed</span>" in notifications


def test_a_task_without_a_key_is_hash_and_id(world, client):
    task = task_create(flow=world.flow, actor=world.admin, data={})
    client.force_login(world.admin)
    board = client.get("/flows/acme/sales").content.decode()
    assert f'<a class="title" href="/flows/acme/sales/tasks/{task.pk}">#{task.pk}</a>' in board
    assert f"<h1>Task #{task.pk}</h1>" in client.get(f"/flows/acme/sales/tasks/{task.pk}").content.decode()
