"""The board page through the real URL layer: columns, cards, buttons, filters, the new-task form, paging."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from actions.models import Action
from flows.models import Field, Stage
from tasks.models import Task
from tests.factories import FieldFactory, make_task
from tests.tasks.conftest import SALES

pytestmark = pytest.mark.django_db

BOARD = "/flows/acme/sales"
HX = {"HTTP_HX_REQUEST": "true"}


def stage(flow, name) -> Stage:
    return Stage.objects.get(flow=flow, name=name)


def card_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<article class="task-card" id="task-(\d+)"', html)]


def cards_in(html: str, stage_obj: Stage) -> list[int]:
    section = html.split(f'id="cards-{stage_obj.pk}"', 1)[1].split("</section>", 1)[0]
    return card_ids(section)


@pytest.fixture
def deals(sales):
    world = sales.world
    acme = make_task(
        world.flow,
        world.admin,
        {
            "Company Name": "Acme Corp",
            "Number of Employees": "20",
            "Tags": ["vip"],
            "Assigned To": "flowie@example.com",
        },
    )
    globex = make_task(world.flow, world.admin, {"Company Name": "Globex", "Stage": "In Progress"})
    return acme, globex


def test_board_shows_columns_cards_and_only_available_buttons(world, deals, client):
    acme, globex = deals
    start = Action.objects.create(flow=world.flow, name="Start", position=0)
    start.from_stages.set([stage(world.flow, "To Do")])
    Action.objects.create(flow=world.flow, name="Ping", position=1)  # no from_stages: every stage
    client.force_login(world.flow_member)

    response = client.get(BOARD)

    assert response.status_code == 200
    html = response.content.decode()
    for name in ("To Do", "In Progress", "Done"):
        assert name in html
    assert cards_in(html, stage(world.flow, "To Do")) == [acme.pk]
    assert cards_in(html, stage(world.flow, "In Progress")) == [globex.pk]
    assert f'id="count-{stage(world.flow, "To Do").pk}" title="Tasks in To Do">1<' in html
    # The key (uniqueId), the first fields, tags and assignee are on the card.
    acme_card = html.split(f'id="task-{acme.pk}"', 1)[1].split("</article>", 1)[0]
    # The card names the task by its key's value (tasks.identity), as the task page's title does.
    assert f'class="title" href="/flows/acme/sales/tasks/{acme.pk}">1</a>' in acme_card
    assert "Acme Corp" in acme_card and "20" in acme_card
    assert "vip" in acme_card and "Flo Wie" in acme_card
    assert 'data-action="Start"' in acme_card and 'data-action="Ping"' in acme_card
    globex_card = html.split(f'id="task-{globex.pk}"', 1)[1].split("</article>", 1)[0]
    assert 'data-action="Start"' not in globex_card and 'data-action="Ping"' in globex_card
    assert "Unassigned" in globex_card
    assert "/flows/acme/sales/schema" in html and "/flows/acme/sales/settings" in html


@pytest.mark.parametrize("who, status", [("flow_member", 200), ("admin", 200), ("member", 404), ("outsider", 404)])
def test_board_is_for_flow_members(world, client, who, status):
    client.force_login(getattr(world, who))
    assert client.get(BOARD).status_code == status
    assert client.get(f"{BOARD}/tasks/new").status_code == status


def test_board_needs_login(world, client):
    assert client.get(BOARD).status_code == 302
    assert client.get(f"{BOARD}/tasks/new").status_code == 302


def test_filter_by_assignee_unassigned_and_text(world, deals, client):
    acme, globex = deals
    client.force_login(world.admin)

    assert card_ids(client.get(BOARD, {"assignee": world.flow_member.pk}).content.decode()) == [acme.pk]
    assert card_ids(client.get(BOARD, {"assignee": "none"}).content.decode()) == [globex.pk]
    assert card_ids(client.get(BOARD, {"q": "glob"}).content.decode()) == [globex.pk]
    assert card_ids(client.get(BOARD, {"q": "ACME"}).content.decode()) == [acme.pk]
    # Field ids are keys of the stored JSON; searching for one must not match every task.
    field_id = str(Field.objects.filter(flow=world.flow).first().pk)
    assert card_ids(client.get(BOARD, {"q": f'"{field_id}"'}).content.decode()) == []
    assert card_ids(client.get(BOARD, {"q": "acme", "assignee": "none"}).content.decode()) == []

    partial = client.get(BOARD, {"q": "glob"}, **HX)
    html = partial.content.decode()
    assert partial.status_code == 200
    assert "<html" not in html and html.lstrip().startswith('<div class="board" id="board-columns">')
    assert card_ids(html) == [globex.pk]
    assert f'id="count-{stage(world.flow, "To Do").pk}" title="Tasks in To Do">0<' in html


def test_opening_the_board_marks_the_flow_mentions_read(world, deals, api, client):
    acme, _ = deals
    api(world.admin).post(f"{SALES}/tasks/{acme.key}/comments", {"body": "@flo look"}, format="json")
    assert api(world.flow_member).get(SALES).json()["unread_mentions"] == 1
    client.force_login(world.flow_member)
    client.get(BOARD)
    assert api(world.flow_member).get(SALES).json()["unread_mentions"] == 0


# --- the new-task form -----------------------------------------------------------------------


@pytest.fixture
def rich(sales):
    flow = sales.flow
    return {
        "notes": FieldFactory(flow=flow, name="Notes", type=Field.Type.LONG_TEXT, position=6),
        "size": FieldFactory(
            flow=flow, name="Size", type=Field.Type.SINGLE_SELECT, options=["S", "M", "L"], position=7
        ),
        "regions": FieldFactory(
            flow=flow, name="Regions", type=Field.Type.MULTIPLE_SELECT, options=["EU", "US"], position=8
        ),
        "owner": FieldFactory(flow=flow, name="Owner", type=Field.Type.PERSON, position=9),
        "phone": FieldFactory(flow=flow, name="Phone", type=Field.Type.PHONE, position=10),
        "site": FieldFactory(flow=flow, name="Site", type=Field.Type.URL, position=11),
        "mail": FieldFactory(flow=flow, name="Mail", type=Field.Type.EMAIL, position=12),
        "call": FieldFactory(flow=flow, name="Call At", type=Field.Type.DATETIME, position=13),
        "deck": FieldFactory(flow=flow, name="Deck", type=Field.Type.FILE, position=14),
    }


def test_new_task_form_has_an_input_per_type(world, sales, rich, client):
    client.force_login(world.flow_member)
    response = client.get(f"{BOARD}/tasks/new", **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="new-task"' in html
    f = {name: field.pk for name, field in rich.items()}
    s = sales
    assert f'name="f{s.company_name.pk}"' in html
    assert re.search(rf'type="number" name="f{s.employees.pk}"[^>]*step="any"', html)
    assert re.search(rf'type="number" name="f{s.value.pk}"[^>]*step="any"', html)
    assert f'type="checkbox" name="f{s.international.pk}"' in html
    assert f'type="date" name="f{s.close.pk}"' in html
    assert f'<textarea name="f{f["notes"]}"' in html
    assert f'<select name="f{f["size"]}"' in html and '<option value="M">M</option>' in html
    assert html.count(f'type="checkbox" name="f{f["regions"]}"') == 2
    assert f'<select name="f{f["owner"]}"' in html and 'value="flowie@example.com"' in html
    assert f'type="tel" name="f{f["phone"]}"' in html
    assert f'type="url" name="f{f["site"]}"' in html
    assert f'type="email" name="f{f["mail"]}"' in html
    assert f'type="datetime-local" name="f{f["call"]}"' in html
    assert f'type="file" name="f{f["deck"]}"' in html
    assert f'name="f{s.company_id.pk}"' not in html  # uniqueId: numbered by the server
    assert 'name="stage"' in html and 'name="assignee"' in html
    # Without JavaScript the form opens on the board page.
    full = client.get(f"{BOARD}/tasks/new").content.decode()
    assert "<html" in full and 'id="board-columns"' in full and 'name="stage"' in full


def test_create_task_inline_puts_the_card_in_its_column(world, sales, rich, client):
    client.force_login(world.flow_member)
    in_progress = stage(world.flow, "In Progress")
    upload = _upload("deck.pdf", b"%PDF-1.4 hello")
    response = client.post(
        f"{BOARD}/tasks/new",
        {
            f"f{sales.company_name.pk}": "Initech",
            f"f{sales.employees.pk}": "12.5",
            f"f{sales.international.pk}": "on",
            f"f{sales.close.pk}": "2024-05-01",
            f"f{rich['size'].pk}": "M",
            f"f{rich['regions'].pk}": ["EU", "US"],
            f"f{rich['owner'].pk}": "flowie@example.com",
            f"f{rich['call'].pk}": "2024-05-01T09:30",
            f"f{rich['deck'].pk}": upload,
            "stage": in_progress.pk,
            "assignee": "admin@example.com",
        },
        **HX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    task = Task.objects.get(flow=world.flow)
    assert f'hx-swap-oob="afterbegin:#cards-{in_progress.pk}"' in html and f'id="task-{task.pk}"' in html
    assert f'id="count-{in_progress.pk}" hx-swap-oob="true">1<' in html
    assert 'id="new-task"' in html and "Created" in html
    body = client.get(f"{SALES}/tasks/{task.key}", HTTP_AUTHORIZATION=f"Bearer {_token(world.flow_member)}").json()
    assert body["Company Name"] == "Initech" and body["Number of Employees"] == "12.5"
    assert body["International?"] is True and body["Expected Close Date"] == "2024-05-01"
    assert body["Size"] == "M" and body["Regions"] == ["EU", "US"] and body["Owner"] == "flowie@example.com"
    assert body["Call At"] == "2024-05-01T09:30:00Z"
    assert body["Deck"][0]["filename"] == "deck.pdf"
    assert body["Stage"] == "In Progress" and body["Assigned To"] == "admin@example.com"
    assert task.events.get().source == "web"


def test_create_task_shows_reasons_next_to_the_fields(world, sales, client):
    client.force_login(world.flow_member)
    data = {f"f{sales.employees.pk}": "lots", f"f{sales.close.pk}": "2024-13-45"}
    response = client.post(f"{BOARD}/tasks/new", data, **HX)
    assert response.status_code == 200 and not Task.objects.exists()
    html = response.content.decode()

    def reasons(field):
        block = html.split(f'data-field="f{field.pk}"', 1)[1].split('<div class="form-field', 1)[0]
        return block

    assert "is required" in reasons(sales.company_name)
    assert "must be a number" in reasons(sales.employees)
    assert "must be a date as YYYY-MM-DD" in reasons(sales.close)
    assert 'value="lots"' in html  # what was typed stays

    plain = client.post(f"{BOARD}/tasks/new", data)
    assert plain.status_code == 422 and "is required" in plain.content.decode()
    ok = client.post(f"{BOARD}/tasks/new", {f"f{sales.company_name.pk}": "Plain"})
    assert ok.status_code == 302 and ok["Location"] == BOARD
    assert Task.objects.get().stage.name == "To Do"


# --- paging and query counts -----------------------------------------------------------------


def _bulk_tasks(flow, stage_obj, count, start=0):
    field = Field.objects.get(flow=flow, name="Company Name")
    Task.objects.bulk_create(
        [Task(flow=flow, stage=stage_obj, data={str(field.pk): f"Company {start + i}"}) for i in range(count)]
    )


def test_a_column_shows_50_cards_then_load_more(world, sales, client):
    todo = stage(world.flow, "To Do")
    _bulk_tasks(world.flow, todo, 75)
    newest_first = list(Task.objects.filter(flow=world.flow).order_by("-id").values_list("pk", flat=True))
    client.force_login(world.flow_member)

    html = client.get(BOARD).content.decode()
    assert cards_in(html, todo) == newest_first[:50]
    more = f"{BOARD}?stage={todo.pk}&amp;page=2"
    assert f'hx-get="{more}"' in html and "(50 of 75)" in html
    assert f'id="count-{todo.pk}" title="Tasks in To Do">75<' in html

    page2 = client.get(BOARD, {"stage": todo.pk, "page": 2}, **HX).content.decode()
    assert "<html" not in page2 and "board-columns" not in page2
    assert card_ids(page2) == newest_first[50:]
    assert "Load more" not in page2

    # Without JavaScript, "Load more" shows the board with that column two pages long.
    full = client.get(BOARD, {"stage": todo.pk, "page": 2}).content.decode()
    assert cards_in(full, todo) == newest_first


def test_load_more_keeps_the_filters(world, sales, client):
    todo = stage(world.flow, "To Do")
    _bulk_tasks(world.flow, todo, 55)
    client.force_login(world.flow_member)
    html = client.get(BOARD, {"q": "company"}).content.decode()
    assert f"?q=company&amp;stage={todo.pk}&amp;page=2" in html


def _board_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(BOARD)
    assert response.status_code == 200
    return len(queries)


def test_a_huge_column_counts_up_to_the_cap(world, sales, client, monkeypatch):
    """Counting a 100,000-task column would cost more than the whole board: past the cap it says so."""
    monkeypatch.setattr("tasks.views.COUNT_CAP", 60)
    todo = stage(world.flow, "To Do")
    _bulk_tasks(world.flow, todo, 75)
    client.force_login(world.flow_member)

    html = client.get(BOARD).content.decode()
    assert f'id="count-{todo.pk}" title="Tasks in To Do">60+<' in html
    assert "(50 of 60+)" in html and len(cards_in(html, todo)) == 50
    # Under the cap, the count is exact.
    monkeypatch.setattr("tasks.views.COUNT_CAP", 75)
    assert 'title="Tasks in To Do">75<' in client.get(BOARD).content.decode()


def test_board_query_count_does_not_grow_with_tasks(world, sales, client, django_assert_max_num_queries):
    for name in ("Start", "Finish"):
        action = Action.objects.create(flow=world.flow, name=name)
        action.from_stages.set(Stage.objects.filter(flow=world.flow))
    client.force_login(world.flow_member)
    stages = list(Stage.objects.filter(flow=world.flow))
    for index in range(5):
        make_task(
            world.flow,
            world.admin,
            {
                "Company Name": f"C{index}",
                "Stage": stages[index % 3].name,
                "Assigned To": "flowie@example.com",
                "Tags": ["a"],
            },
        )
    few = _board_queries(client)
    for index in range(55):
        make_task(
            world.flow,
            world.admin,
            {"Company Name": f"D{index}", "Stage": stages[index % 3].name, "Assigned To": "admin@example.com"},
        )
    with django_assert_max_num_queries(few):
        html = client.get(BOARD).content.decode()
    assert len(card_ids(html)) == 60


def test_board_query_count_with_a_text_filter(world, sales, client):
    client.force_login(world.flow_member)
    _bulk_tasks(world.flow, stage(world.flow, "To Do"), 5)
    with CaptureQueriesContext(connection) as few:
        client.get(BOARD, {"q": "company", "assignee": "none"}, **HX)
    _bulk_tasks(world.flow, stage(world.flow, "Done"), 80, start=100)
    with CaptureQueriesContext(connection) as many:
        html = client.get(BOARD, {"q": "company", "assignee": "none"}, **HX).content.decode()
    assert len(many) == len(few) and len(card_ids(html)) == 55


# --- helpers -----------------------------------------------------------------------------------


def _upload(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="application/pdf")


def _token(user) -> str:
    from tests.factories import token_for

    return token_for(user)
