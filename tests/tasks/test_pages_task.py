"""The task page through the real URL layer: inline edits, history, comments and mentions, partials,
delete, and the notifications page."""

import re

import pytest

from actions.models import Action
from flows.models import Field, Stage
from tasks.models import Notification, Task
from tests.factories import FieldFactory, make_task
from tests.tasks.conftest import SALES

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def deal(sales):
    world = sales.world
    sales.size = FieldFactory(flow=world.flow, name="Size", type="singleSelect", options=["S", "M", "L"], position=6)
    sales.regions = FieldFactory(
        flow=world.flow, name="Regions", type="multipleSelect", options=["EU", "US"], position=7
    )
    sales.owner = FieldFactory(flow=world.flow, name="Owner", type="person", position=8)
    sales.score = FieldFactory(flow=world.flow, name="Score", type="number", editable=False, position=9)
    task = make_task(world.flow, world.admin, {"Company Name": "Acme Corp", "Number of Employees": "20"})
    sales.task = task
    sales.url = f"/flows/acme/sales/tasks/{task.pk}"
    return sales


def field_url(deal, key) -> str:
    return f"{deal.url}/fields/{key}"


def api_task(api, deal) -> dict:
    return api(deal.world.admin).get(f"{SALES}/tasks/{deal.task.key}").json()


def test_task_page_shows_fields_actions_history_and_comments(world, deal, client):
    Action.objects.create(flow=world.flow, name="Start")
    client.force_login(world.flow_member)
    html = client.get(deal.url).content.decode()
    assert 'id="task-fields"' in html
    assert f'hx-get="{deal.url}/fields" hx-trigger="task-updated from:body"' in html
    assert 'data-action="Start"' in html and f'id="run-status-{deal.task.pk}"' in html
    assert "Acme Corp" in html and 'id="task-history"' in html and "created the task" in html
    assert 'id="comment-form"' in html and "Delete task" in html
    # The read-only field has no edit link; the others have one that opens the input in place.
    assert f'hx-get="{field_url(deal, deal.score.pk)}?edit=1"' not in html
    assert f'hx-get="{field_url(deal, deal.company_name.pk)}?edit=1"' in html
    assert f'hx-get="{field_url(deal, deal.company_id.pk)}?edit=1"' not in html


def test_edit_row_renders_the_input_for_the_type(world, deal, client):
    client.force_login(world.flow_member)
    cases = {
        deal.company_name.pk: 'type="text" name="value"',
        deal.employees.pk: 'type="number" name="value"',
        deal.international.pk: 'type="checkbox" name="value"',
        deal.close.pk: 'type="date" name="value"',
        deal.size.pk: '<select name="value"',
        deal.regions.pk: 'type="checkbox" name="value" value="EU"',
        deal.owner.pk: 'value="flowie@example.com"',
        "stage": '<select name="value"',
        "assignee": 'value="admin@example.com"',
        "tags": 'name="value"',
    }
    for key, needle in cases.items():
        html = client.get(field_url(deal, key), {"edit": "1"}, **HX).content.decode()
        assert "<html" not in html and f'id="row-{key}"' in html and needle in html, key
        assert 'hx-post="' in html
    shown = client.get(field_url(deal, deal.company_name.pk), **HX).content.decode()
    assert "Acme Corp" in shown and "<form" not in shown
    # Without JavaScript: the page with that row open.
    full = client.get(deal.url, {"edit": deal.company_name.pk}).content.decode()
    assert "<html" in full and 'value="Acme Corp"' in full


def test_inline_edits_of_several_types(world, deal, api, client):
    client.force_login(world.flow_member)
    posts = [
        (deal.company_name.pk, {"value": "Acme Inc"}),
        (deal.employees.pk, {"value": "42"}),
        (deal.international.pk, {"value": "on"}),
        (deal.close.pk, {"value": "2024-02-29"}),
        (deal.size.pk, {"value": "L"}),
        (deal.regions.pk, {"value": ["EU", "US"]}),
        (deal.owner.pk, {"value": "flowie@example.com"}),
        ("tags", {"value": "vip, hot"}),
    ]
    for key, data in posts:
        response = client.post(field_url(deal, key), data, **HX)
        assert response.status_code == 200, key
        html = response.content.decode()
        assert f'id="row-{key}"' in html and "<form" not in html and "errorlist" not in html, (key, html)
        assert "task-changed" in response["HX-Trigger"]
    body = api_task(api, deal)
    assert body["Company Name"] == "Acme Inc" and body["Number of Employees"] == "42"
    assert body["International?"] is True and body["Expected Close Date"] == "2024-02-29"
    assert body["Size"] == "L" and body["Regions"] == ["EU", "US"] and body["Owner"] == "flowie@example.com"
    assert body["Tags"] == ["vip", "hot"]
    # Unchecking a checkbox posts nothing for it: it becomes false.
    client.post(field_url(deal, deal.international.pk), {}, **HX)
    assert api_task(api, deal)["International?"] is False


def test_inline_edit_shows_the_reason_next_to_the_value(world, deal, api, client):
    client.force_login(world.flow_member)
    cases = [
        (deal.employees.pk, {"value": "many"}, "must be a number"),
        (deal.close.pk, {"value": "31/01/2020"}, "must be a date as YYYY-MM-DD"),
        (deal.company_name.pk, {"value": ""}, "is required"),
        (deal.size.pk, {"value": "XL"}, "must be one of: S, M, L"),
    ]
    for key, data, reason in cases:
        response = client.post(field_url(deal, key), data, **HX)
        html = response.content.decode()
        assert response.status_code == 200 and f'id="row-{key}"' in html
        assert "<form" in html and 'class="errorlist"' in html and reason in html, key
        plain = client.post(field_url(deal, key), data)
        assert plain.status_code == 422 and reason in plain.content.decode()
    body = api_task(api, deal)
    assert body["Number of Employees"] == "20" and body["Company Name"] == "Acme Corp"


def test_read_only_fields_are_refused(world, deal, api, client):
    client.force_login(world.flow_member)
    response = client.post(field_url(deal, deal.score.pk), {"value": "9"}, **HX)
    assert "cannot be edited" in response.content.decode()
    response = client.post(field_url(deal, deal.company_id.pk), {"value": "9"}, **HX)
    assert "cannot be edited" in response.content.decode()
    assert api_task(api, deal)["Score"] is None and api_task(api, deal)["Company ID"] == "1"
    assert client.get(field_url(deal, "nope")).status_code == 404


def test_stage_and_assignee_change_and_history_shows_them(world, deal, api, client):
    client.force_login(world.flow_member)
    done = Stage.objects.get(flow=world.flow, name="Done")
    assert client.post(field_url(deal, "stage"), {"value": done.pk}, **HX).status_code == 200
    client.post(field_url(deal, "assignee"), {"value": "flowie@example.com"}, **HX)
    client.post(field_url(deal, deal.employees.pk), {"value": "21"}, **HX)
    body = api_task(api, deal)
    assert body["Stage"] == "Done" and body["Assigned To"] == "flowie@example.com"

    history = client.get(f"{deal.url}/history", **HX).content.decode()
    assert "<html" not in history and 'id="task-history"' in history
    assert "Flo Wie" in history and "in the browser" in history
    assert re.search(r'<time datetime="[^"]+" title="[^"]+ UTC">just now</time>', history)
    assert "<del>To Do</del> → <ins>Done</ins>" in history
    assert "<del>empty</del> → <ins>flowie@example.com</ins>" in history
    assert "Number of Employees</span>: <del>20</del> → <ins>21</ins>" in history
    # Unassigning goes back to empty.
    client.post(field_url(deal, "assignee"), {"value": ""}, **HX)
    assert api_task(api, deal)["Assigned To"] is None
    # A stage that is not one of this flow's is refused by the form.
    response = client.post(field_url(deal, "stage"), {"value": 999999}, **HX)
    assert 'class="errorlist"' in response.content.decode()


def test_fields_partial_for_task_updated(world, deal, client):
    client.force_login(world.flow_member)
    Task.objects.filter(pk=deal.task.pk).update(data={**deal.task.data, str(deal.employees.pk): "99"})
    response = client.get(f"{deal.url}/fields", **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<section class="card task-fields" id="task-fields"') and ">99<" in html.replace(
        "\n", ""
    ).replace(" ", "")
    buttons = client.get(f"{deal.url}/buttons", **HX).content.decode()
    assert f'id="actions-{deal.task.pk}"' in buttons
    client.force_login(world.outsider)
    assert client.get(f"{deal.url}/fields", **HX).status_code == 404


def test_comments_with_mentions(world, deal, api, client):
    def unread(user):
        return api(user).get(SALES).json()["unread_mentions"]

    client.force_login(world.admin)
    response = client.post(f"{deal.url}/comments", {"body": "Hi @flo, see @Ada Admin"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and 'id="comment-form"' in html
    assert 'hx-swap-oob="beforeend:#comment-list"' in html
    assert '<mark class="mention">@flo</mark>' in html and '<mark class="mention">@Ada Admin</mark>' in html
    assert unread(world.flow_member) == 1

    empty = client.post(f"{deal.url}/comments", {"body": "  "}, **HX).content.decode()
    assert "must not be empty" in empty
    assert client.post(f"{deal.url}/comments", {"body": ""}).status_code == 422
    assert client.post(f"{deal.url}/comments", {"body": "plain"}).status_code == 302

    client.force_login(world.flow_member)
    page = client.get(deal.url).content.decode()
    assert '<mark class="mention">@flo</mark>' in page and "plain" in page
    assert unread(world.flow_member) == 0


def test_delete_with_confirmation(world, deal, client):
    client.force_login(world.flow_member)
    confirm = client.get(f"{deal.url}/delete")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    assert Task.objects.filter(pk=deal.task.pk).exists()
    response = client.post(f"{deal.url}/delete", **HX)
    assert response["HX-Redirect"] == "/flows/acme/sales"
    assert not Task.objects.filter(pk=deal.task.pk).exists()
    assert client.get(deal.url).status_code == 404


@pytest.mark.parametrize("who", ["member", "outsider"])
def test_task_endpoints_refuse_non_members(world, deal, client, who):
    client.force_login(getattr(world, who))
    assert client.post(field_url(deal, deal.company_name.pk), {"value": "x"}).status_code == 404
    assert client.post(f"{deal.url}/comments", {"body": "x"}).status_code == 404
    assert client.post(f"{deal.url}/delete").status_code == 404
    assert Task.objects.get(pk=deal.task.pk).data[str(deal.company_name.pk)] == "Acme Corp"


def test_file_field_upload_inline(world, deal, api, client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    deck = FieldFactory(flow=world.flow, name="Deck", type=Field.Type.FILE, position=10)
    client.force_login(world.flow_member)
    for name in ("a.txt", "b.txt"):
        upload = SimpleUploadedFile(name, b"hello", content_type="text/plain")
        assert client.post(field_url(deal, deck.pk), {"value": upload}, **HX).status_code == 200
    assert [f["filename"] for f in api_task(api, deal)["Deck"]] == ["a.txt", "b.txt"]
    client.post(field_url(deal, deck.pk), {"clear": "on"}, **HX)
    assert api_task(api, deal)["Deck"] == []


# --- notifications ---------------------------------------------------------------------------


def test_notifications_page_lists_and_marks_read(world, deal, client):
    client.force_login(world.admin)
    client.post(f"{deal.url}/comments", {"body": "@flo please call"}, **HX)
    Notification.objects.create(user=world.flow_member, flow=world.flow, kind="action_failed", message="Start failed")
    Notification.objects.create(user=world.admin, message="not yours")

    client.force_login(world.flow_member)
    board = client.get("/flows/acme/sales").content.decode()
    assert 'id="notifications-badge">2<' in board

    page = client.get("/notifications").content.decode()
    assert "Ada Admin mentioned you" in page and f'href="{deal.url}"' in page and "Start failed" in page
    assert "not yours" not in page and page.count("notification unread") == 2
    assert not Notification.objects.filter(user=world.flow_member, read_at__isnull=True).exists()
    # The badge stays in the page, hidden, so a fragment can bring it back out of band.
    assert 'id="notifications-badge" hidden></span>' in client.get("/notifications").content.decode()
    assert client.get("/flows/acme/sales").status_code == 200


def test_notifications_page_needs_login(client):
    assert client.get("/notifications").status_code == 302
