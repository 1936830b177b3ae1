"""Parallel writers on one task: every change lands (the row lock serializes read-modify-write)."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tasks.models import Task, TaskEvent
from tests.factories import FieldFactory, make_task, token_for

N = 20


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_patches_each_setting_a_field_all_land(live_server, world):
    fields = [FieldFactory(flow=world.flow, name=f"F{n}") for n in range(N)]
    task = make_task(world.flow, world.admin)
    url = f"{live_server.url}/api/flows/acme/sales/tasks/{task.pk}"
    headers = {"Authorization": f"Bearer {token_for(world.admin)}"}

    def patch(n: int) -> int:
        with requests.Session() as session:
            return session.patch(url, json={f"F{n}": f"value {n}"}, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=N) as pool:
        statuses = list(pool.map(patch, range(N)))

    assert statuses == [200] * N
    data = Task.objects.get(pk=task.pk).data
    assert {field.name: data.get(str(field.pk)) for field in fields} == {f"F{n}": f"value {n}" for n in range(N)}
    assert TaskEvent.objects.filter(task=task, kind="updated").count() == N


@pytest.mark.django_db(transaction=True)
def test_parallel_creates_get_distinct_unique_ids(live_server, world):
    FieldFactory(flow=world.flow, name="Number", type="uniqueId", unique=True, editable=False)
    url = f"{live_server.url}/api/flows/acme/sales/tasks"
    headers = {"Authorization": f"Bearer {token_for(world.admin)}"}

    def create(_: int) -> str:
        response = requests.post(url, json={}, headers=headers, timeout=60)
        assert response.status_code == 201, response.text
        return response.json()["Number"]

    with ThreadPoolExecutor(max_workers=10) as pool:
        numbers = sorted(pool.map(create, range(10)), key=int)
    assert numbers == [str(n) for n in range(1, 11)]
