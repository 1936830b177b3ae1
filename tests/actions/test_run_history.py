"""Run history for actions: the flow's and the task's lists (filtered, paged), each run's page with
its steps' requests and answers (secrets redacted), the links to them, and the Executions list API."""

import re

import pytest
from django.test import Client

from actions.engine import run_execute
from actions.models import Run
from actions.services import action_perform
from tasks.services import task_create

pytestmark = pytest.mark.django_db

BASE = "/flows/acme/sales"
API = "/api/flows/acme/sales"
HX = {"HTTP_HX_REQUEST": "true"}
SECRET = "Bearer s3cr3t-t0ken-value"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def history(seed, receiver):
    """Finish succeeds and Check fails (503) on task 42, Finish succeeds on task 43."""
    seed.finish = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "In Progress"}}])
    seed.check = seed.action(
        "Check",
        [
            {
                "type": "api_call",
                "config": {"url": receiver.url, "headers": [{"name": "Authorization", "value": SECRET}]},
            }
        ],
    )
    seed.other = task_create(
        flow=seed.flow, actor=seed.world.admin, data={"Stage": "In Progress", "Company ID": "43", "Company Name": "B"}
    )
    member = seed.world.flow_member
    seed.ok = run_execute(action_perform(action=seed.finish, task=seed.task, actor=member).pk)
    receiver.set_response(status=503, body=b"maintenance")
    seed.failed = run_execute(action_perform(action=seed.check, task=seed.task, actor=member).pk)
    seed.on_other = run_execute(action_perform(action=seed.finish, task=seed.other, actor=seed.world.admin).pk)
    assert [seed.ok.status, seed.failed.status, seed.on_other.status] == ["success", "fail", "success"]
    return seed


def rows(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'class="run-row" data-status="\w+" data-run="(\d+)"', html)]


def test_the_flows_run_history_lists_who_which_action_when_and_status(history):
    html = client_for(history.world.flow_member).get(f"{BASE}/runs").content.decode()
    assert rows(html) == [history.on_other.pk, history.failed.pk, history.ok.pk]
    failed = html.split(f'data-run="{history.failed.pk}"', 1)[1].split("</tr>", 1)[0]
    assert f'href="{BASE}/runs/{history.failed.pk}"' in failed
    assert "<td>Check</td>" in failed and ">42</a>" in failed and "Flo Wie" in failed
    assert ">Failed</span>" in failed and "the API answered 503" in failed
    assert re.search(r'<time datetime="[^"]+" title="[^"]+">just now</time>', failed)
    assert "<title>Action runs · Sales · Flowsite</title>" in html

    member = client_for(history.world.flow_member)
    assert rows(member.get(f"{BASE}/runs?status=fail").content.decode()) == [history.failed.pk]
    by_action = member.get(f"{BASE}/runs?action={history.finish.pk}").content.decode()
    assert rows(by_action) == [history.on_other.pk, history.ok.pk]
    # htmx swaps only the table when a filter changes.
    fragment = member.get(f"{BASE}/runs?status=success", HTTP_HX_TARGET="runs", **HX).content.decode()
    assert fragment.lstrip().startswith('<div id="runs">') and rows(fragment) == [history.on_other.pk, history.ok.pk]
    # Nonsense filters are ignored, not errors.
    assert len(rows(member.get(f"{BASE}/runs?status=exploded&action=abc").content.decode())) == 3


def test_the_tasks_run_history_and_the_short_list_on_the_task_page(history):
    member = client_for(history.world.flow_member)
    html = member.get(f"{BASE}/tasks/{history.task.pk}/runs").content.decode()
    assert rows(html) == [history.failed.pk, history.ok.pk]
    assert "Action runs of task 42" in html

    task_page = member.get(f"{BASE}/tasks/{history.task.pk}").content.decode()
    history_section = task_page.split('id="task-history"', 1)[1]
    assert f'hx-get="{BASE}/tasks/{history.task.pk}/runs?recent=1"' in history_section
    assert f'href="{BASE}/tasks/{history.task.pk}/runs"' in history_section  # works without JavaScript
    recent = member.get(f"{BASE}/tasks/{history.task.pk}/runs?recent=1", **HX).content.decode()
    assert f'href="{BASE}/runs/{history.failed.pk}"' in recent and f'href="{BASE}/runs/{history.ok.pk}"' in recent
    assert f"/runs/{history.on_other.pk}" not in recent


def test_the_run_page_shows_each_step_with_its_request_and_answer_secrets_redacted(history):
    html = client_for(history.world.flow_member).get(f"{BASE}/runs/{history.failed.pk}").content.decode()
    assert "<strong>API Call</strong>" in html and "Step 1</span>" in html and ">Failed</span>" in html
    assert "Request (secrets redacted)" in html and "&quot;method&quot;: &quot;POST&quot;" in html
    assert "Answer" in html and "&quot;status_code&quot;: 503" in html and "maintenance" in html
    assert "Flo Wie" in html and "flowie@example.com" in html
    assert "s3cr3t-t0ken-value" not in html
    assert f'href="{BASE}/tasks/{history.task.pk}">42</a>' in html


def test_links_from_the_failure_alert_the_builder_and_the_board(history):
    admin = client_for(history.world.admin)
    alert = admin.get(f"{BASE}/runs/{history.failed.pk}", **HX).content.decode()
    assert 'class="run-status fail' in alert and f'href="{BASE}/runs/{history.failed.pk}"' in alert
    assert f'href="{BASE}/runs"' in admin.get(f"{BASE}/builder").content.decode()
    assert f'href="{BASE}/runs"' in admin.get(BASE).content.decode()


def test_pages_of_twenty(history):
    for _ in range(20):
        Run.objects.create(
            kind="action", flow=history.flow, task=history.task, task_ref=history.task.pk, name="Bulk", status="success"
        )
    member = client_for(history.world.flow_member)
    first = member.get(f"{BASE}/runs").content.decode()
    assert len(rows(first)) == 20 and "Page 1 of 2 (23 runs)" in first
    second = member.get(f"{BASE}/runs?page=2").content.decode()
    assert rows(second) == [history.on_other.pk, history.failed.pk, history.ok.pk]
    only_failed = member.get(f"{BASE}/runs?status=fail").content.decode()
    assert "Page 1 of" not in only_failed


def test_outsiders_get_not_found(history):
    for user in (history.world.outsider, history.world.member):
        client = client_for(user)
        for url in (f"{BASE}/runs", f"{BASE}/tasks/{history.task.pk}/runs", f"{BASE}/runs/{history.failed.pk}"):
            assert client.get(url).status_code == 404, (user, url)
    assert Client().get(f"{BASE}/runs").status_code == 302


# --- the Executions API ----------------------------------------------------------------------------


def ids(response) -> list[int]:
    return [item["id"] for item in response.json()]


def test_executions_list_filters_and_pages(history, api):
    client = api(history.world.flow_member)
    response = client.get(f"{API}/executions")
    assert response.status_code == 200 and response["X-Total-Count"] == "3"
    assert ids(response) == [history.on_other.pk, history.failed.pk, history.ok.pk]
    failed = response.json()[1]
    assert failed["status"] == "Fail" and failed["action"] == {"id": history.check.pk, "name": "Check"}
    assert failed["performed_by"] == "flowie@example.com" and failed["task_id"] == history.task.pk
    assert failed["steps"][0]["response"]["status_code"] == 503
    assert "s3cr3t-t0ken-value" not in response.content.decode()

    assert ids(client.get(f"{API}/executions?task_id=42")) == [history.failed.pk, history.ok.pk]
    assert ids(client.get(f"{API}/executions?action_id={history.finish.pk}")) == [history.on_other.pk, history.ok.pk]
    assert ids(client.get(f"{API}/executions?status=fail")) == [history.failed.pk]
    assert ids(client.get(f"{API}/executions?status=Success&task_id=43")) == [history.on_other.pk]
    assert ids(client.get(f"{API}/executions?status=Pending")) == []

    page1 = client.get(f"{API}/executions?limit=2")
    assert ids(page1) == [history.on_other.pk, history.failed.pk] and page1["X-Total-Count"] == "3"
    assert 'page=2>; rel="next"' in page1["Link"] and "limit=2" in page1["Link"]
    page2 = client.get(f"{API}/executions?limit=2&page=2")
    assert ids(page2) == [history.ok.pk] and 'page=1>; rel="prev"' in page2["Link"] and "next" not in page2["Link"]


@pytest.mark.parametrize(
    "query,code,error",
    [
        ("status=exploded", 422, "status must be one of Pending, Success, Fail"),
        ("limit=0", 422, "limit must be a whole number from 1 to 100"),
        ("page=x", 422, "page must be a whole number from 1"),
        ("action_id=abc", 422, "action_id must be a whole number from 1"),
        ("task_id=999", 404, "No task 999 in this flow."),
    ],
)
def test_executions_list_bad_filters_answer_in_the_flowdash_shape(history, api, query, code, error):
    response = api(history.world.flow_member).get(f"{API}/executions?{query}")
    assert response.status_code == code
    assert response.json() == {"status": "Fail", "errors": [error]}


def test_executions_list_is_not_found_for_those_who_may_not_read(history, api):
    assert api(history.world.outsider).get(f"{API}/executions").status_code == 404
    assert api(history.world.member).get(f"{API}/executions").status_code == 404
    assert api().get(f"{API}/executions").status_code in (401, 403)
