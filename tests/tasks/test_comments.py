import pytest

from tasks.models import Mention, Notification
from tasks.services import comment_create, mentions_mark_read
from tests.factories import FieldFactory, UserFactory, add_flow_member, add_org_member, make_task
from tests.tasks.conftest import SALES

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(world):
    FieldFactory(flow=world.flow, name="Title")
    return make_task(world.flow, world.admin, {"Title": "Deal"})


def unread(api, user) -> int:
    return api(user).get("/api/flows/acme/sales").json()["unread_mentions"]


def test_post_and_list_comments(world, api, task):
    client = api(world.flow_member)
    response = client.post(f"{SALES}/tasks/{task.pk}/comments", {"body": "  Looks good  "}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["body"] == "Looks good"
    assert body["author"] == {"id": world.flow_member.pk, "email": "flowie@example.com", "name": "Flo Wie"}
    assert body["created_at"].endswith("Z")
    listed = client.get(f"{SALES}/tasks/{task.pk}/comments").json()
    assert listed == [body]


@pytest.mark.parametrize(
    "data, reason",
    [({"body": ""}, "must not be empty"), ({"body": "   "}, "must not be empty"), ({}, "must not be empty")],
)
def test_bad_comments_are_422(world, api, task, data, reason):
    response = api(world.admin).post(f"{SALES}/tasks/{task.pk}/comments", data, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": {"body": [reason]}}


def test_comments_are_capped(world, api, task):
    client = api(world.admin)
    assert client.post(f"{SALES}/tasks/{task.pk}/comments", {"body": "x" * 10_000}, format="json").status_code == 201
    response = client.post(f"{SALES}/tasks/{task.pk}/comments", {"body": "x" * 10_001}, format="json")
    assert response.status_code == 422


def test_mentions_by_nick_and_full_name(world, api, task):
    response = api(world.admin).post(
        f"{SALES}/tasks/{task.pk}/comments", {"body": "@flo please check, cc @Ada Admin"}, format="json"
    )
    assert response.status_code == 201
    # The author is not notified about themself.
    assert list(Mention.objects.values_list("user__email", flat=True)) == ["flowie@example.com"]
    note = Notification.objects.get()
    assert note.user == world.flow_member and note.kind == "mention"
    assert note.message == f"Ada Admin mentioned you on task {task.pk}"
    assert note.url == f"/flows/acme/sales/tasks/{task.pk}"


def test_longest_match_wins_and_emails_are_not_mentions(world, task):
    # "flo" is one member's nick; "Flo Wie" another's... the longer handle wins.
    other = UserFactory(email="other@example.com", first_name="Flo", last_name="Wiederkehr", nick="fw")
    add_org_member(world.org, other)
    add_flow_member(world.flow, other)
    comment_create(task=task, author=world.admin, body="Hi @flo wiederkehr, mail flowie@flo.com")
    assert list(Mention.objects.values_list("user__email", flat=True)) == ["other@example.com"]
    comment_create(task=task, author=world.admin, body="@FLO WIE and @Flo again, @nobody, @flow")
    assert sorted(Mention.objects.filter(comment__body__startswith="@FLO").values_list("user__email", flat=True)) == [
        "flowie@example.com"
    ]


def test_non_members_are_not_mentioned(world, task):
    comment_create(task=task, author=world.admin, body="@mel @otto")
    assert not Mention.objects.exists()


def test_unread_mentions_go_up_and_down(world, api, task, client):
    assert unread(api, world.flow_member) == 0
    api(world.admin).post(f"{SALES}/tasks/{task.pk}/comments", {"body": "@flo one"}, format="json")
    api(world.admin).post(f"{SALES}/tasks/{task.pk}/comments", {"body": "@flo two"}, format="json")
    assert unread(api, world.flow_member) == 2
    assert unread(api, world.admin) == 0

    # Opening the task page marks its mentions read.
    client.force_login(world.flow_member)
    page = client.get(f"/flows/acme/sales/tasks/{task.pk}")
    assert page.status_code == 200
    assert b"Deal" in page.content and b"@flo two" in page.content
    assert unread(api, world.flow_member) == 0


def test_mentions_mark_read_for_the_flow_or_one_task(world, task):
    other_task = make_task(world.flow, world.admin, {"Title": "Other"})
    comment_create(task=task, author=world.admin, body="@flo")
    comment_create(task=other_task, author=world.admin, body="@flo")
    assert mentions_mark_read(user=world.flow_member, flow=world.flow, task=task) == 1
    assert mentions_mark_read(user=world.flow_member, flow=world.flow) == 1
    assert mentions_mark_read(user=world.flow_member, flow=world.flow) == 0


@pytest.mark.parametrize("who, status", [("flow_member", 200), ("admin", 200), ("member", 404), ("outsider", 404)])
def test_task_page_is_for_flow_members(world, task, client, who, status):
    client.force_login(getattr(world, who))
    assert client.get(f"/flows/acme/sales/tasks/{task.pk}").status_code == status


def test_task_page_needs_login(world, task, client):
    response = client.get(f"/flows/acme/sales/tasks/{task.pk}")
    assert response.status_code == 302


def test_task_url_points_at_the_page(world, api, task):
    body = api(world.admin).get(f"{SALES}/tasks/{task.pk}").json()
    assert body["Task URL"] == f"http://testserver/flows/acme/sales/tasks/{task.pk}"
