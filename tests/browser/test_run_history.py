"""Action run history in headless Chromium: from the task page's history to a failed run's steps (its
request, secrets redacted, and the answer), and from the board to the flow's runs, filtered with htmx."""

import re

import pytest
from playwright.sync_api import expect

from actions.engine import run_execute
from actions.services import action_perform
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "Bearer history-secret-9c1d"


def test_run_history_from_the_task_page_and_the_board(seed, page, login, receiver):
    world = seed.world
    finish = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "In Progress"}}])
    check = seed.action(
        "Check",
        [
            {
                "type": "api_call",
                "config": {"url": receiver.url, "headers": [{"name": "Authorization", "value": SECRET}]},
            }
        ],
    )
    ok = run_execute(action_perform(action=finish, task=seed.task, actor=world.flow_member).pk)
    receiver.set_response(status=503, body=b"maintenance window")
    failed = run_execute(action_perform(action=check, task=seed.task, actor=world.flow_member).pk)
    assert (ok.status, failed.status) == ("success", "fail")

    login(world.flow_member)
    page.goto(f"/flows/acme/sales/tasks/{seed.task.pk}")
    expect(page).to_have_title("Task 42 · Sales · Flowsite")
    runs = page.locator("#task-runs")
    expect(runs.locator(".run-row")).to_have_count(2)  # fetched by htmx into the task's history
    expect(runs.locator(".run-row").first).to_contain_text("Check")
    expect(runs.locator(".run-row").first).to_contain_text("Failed")
    screenshot(page, "task-page-run-history", full_page=True)

    runs.get_by_role("link", name="Check").click()
    expect(page).to_have_url(re.compile(rf"/flows/acme/sales/runs/{failed.pk}$"))
    step = page.locator(".run-steps .wf-step")
    expect(step).to_have_count(1)
    expect(step).to_contain_text("API Call")
    expect(step.locator("summary", has_text="Request (secrets redacted)")).to_be_visible()
    expect(step.locator("pre.json").first).to_contain_text('"method": "POST"')
    expect(step.locator("pre.json").nth(1)).to_contain_text('"status_code": 503')
    expect(page.get_by_text("history-secret-9c1d")).to_have_count(0)
    expect(page.locator(".run-facts")).to_contain_text("Flo Wie")
    screenshot(page, "action-run-page", full_page=True)

    page.goto("/flows/acme/sales")
    page.get_by_role("link", name="Action runs").click()
    expect(page).to_have_url(re.compile(r"/flows/acme/sales/runs$"))
    expect(page.locator("#runs .run-row")).to_have_count(2)
    page.get_by_label("Status").select_option("fail")  # htmx swaps the table and keeps the URL in step
    expect(page.locator("#runs .run-row")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"status=fail"))
    expect(page.locator("#runs .run-row")).to_contain_text("the API answered 503")
    screenshot(page, "flow-run-history-failed", full_page=True)
    assert page.js_errors == []
