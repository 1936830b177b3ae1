"""Numbers and currency as people write them, on the board's cards and the task page."""

import re

import pytest

from flows.models import Field
from tasks.services import task_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(world):
    Field.objects.create(flow=world.flow, name="Number of Employees", type="number", position=0)
    Field.objects.create(flow=world.flow, name="Contract Value", type="currency", position=1)
    return task_create(
        flow=world.flow, actor=world.admin, data={"Number of Employees": "1200", "Contract Value": "12500.5"}
    )


def test_the_task_page_shows_thousands_separators_and_cents(world, client, task):
    client.force_login(world.admin)
    html = client.get(f"/flows/acme/sales/tasks/{task.pk}").content.decode()
    employees = html.split('data-kind="number"', 1)[1].split('class="field-row', 1)[0]
    value = html.split('data-kind="currency"', 1)[1].split('class="field-row', 1)[0]
    assert re.search(r">\s*1,200\s*<", employees), employees
    assert re.search(r">\s*12,500\.50\s*<", value), value
    # The Task API keeps the stored values.
    data = client.get(f"/api/flows/acme/sales/tasks/{task.pk}").json()
    assert data["Number of Employees"] == "1200" and data["Contract Value"] == "12500.5"


def test_the_card_shows_them_too(world, client, task):
    client.force_login(world.admin)
    html = client.get("/flows/acme/sales").content.decode()
    card = html.split(f'id="task-{task.pk}"', 1)[1].split("</article>", 1)[0]
    assert "<dt>Number of Employees</dt><dd>1,200</dd>" in card
    assert "<dt>Contract Value</dt><dd>12,500.50</dd>" in card


def test_the_history_shows_them_as_the_details_do(world, client, task):
    client.force_login(world.admin)
    client.patch(
        f"/api/flows/acme/sales/tasks/{task.pk}",
        {"Contract Value": "13000"},
        content_type="application/json",
    )
    html = client.get(f"/flows/acme/sales/tasks/{task.pk}").content.decode()
    assert '<span class="change-name">Contract Value</span>: <del>12,500.50</del> → <ins>13,000.00</ins>' in html
    assert '<span class="change-name">Number of Employees</span>: <ins>1,200</ins>' in html
