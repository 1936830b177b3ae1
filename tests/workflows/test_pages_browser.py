"""The workflow editor in headless Chromium: htmx re-renders fragments from the form as typed, and
a nested filter plus a branch built with the mouse and keyboard saves as the API shape.

Playwright's sync API allows one instance per thread, and tests/browser keeps a session-wide one
open in the main thread; so this test drives its own browser from a worker thread."""

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot, watch_csp
from tests.workflows.crm import crm  # noqa: F401  (overrides the conftest fixture)
from workflows.models import Workflow
from workflows.serializers import workflow_json

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def in_browser(live_server, user, drive) -> None:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"Browser tests need Chromium at {CHROMIUM}; REQUIRE_BROWSER=1.")
        pytest.skip(f"Browser tests need Chromium at {CHROMIUM} (Debian's `chromium` package); none found.")
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value

    def run() -> None:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
                context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
                page = context.new_page()
                page.set_default_timeout(10_000)
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                violations = watch_csp(page)
                drive(page)
                assert errors == []
                assert violations == []
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(run).result()


def build(page) -> None:
    page.goto("/organizations/acme/workflows")
    page.get_by_role("link", name="New workflow").click()
    page.get_by_label("Name", exact=True).fill("Big deals")

    # The module decides the trigger types (htmx swaps the trigger section; the typed name stays).
    page.locator("select[name=triggerModule]").select_option("opportunities")
    expect(page.locator("select[name=triggerType]").locator("option[value=opportunity_won]")).to_have_count(1)
    page.locator("select[name=triggerType]").select_option("opportunity_won")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Big deals")

    conditions = page.locator("#conditions")
    conditions.get_by_role("button", name="+ Condition").click()
    first = conditions.locator('[data-path="triggerFilters.conditions[0]"]')
    first.get_by_label("Field").select_option("Amount")
    first.get_by_label("Operator").select_option("greater_than")
    first.get_by_label("Value").fill("1000")
    conditions.get_by_role("button", name="+ Group").first.click()
    group = conditions.locator('[data-path="triggerFilters.conditions[1]"]').first
    group.locator("select.logic").select_option("OR")
    nested = conditions.locator('[data-path="triggerFilters.conditions[1].conditions[0]"]')
    nested.get_by_label("Field").select_option("Assigned To")
    nested.get_by_label("Operator").select_option("is_empty")
    expect(nested.get_by_label("Value")).to_be_hidden()  # no value for is_empty
    expect(first.get_by_label("Value")).to_have_value("1000")  # survived the re-render

    actions = page.locator("#actions")
    actions.locator('select[name="_new:actions"]').select_option("add_tag")
    actions.get_by_role("button", name="+ Add action").last.click()
    actions.locator('input[name="actions[0].config.tags"]').fill("big, deal")
    actions.locator('select[name="_new:actions"]').select_option("branch")
    actions.locator('button[value="add_action:actions"]').click()
    branch = actions.locator('[data-path="actions[1]"]')
    branch.locator('select[name="actions[1].config.conditions[0].field"]').select_option("Company Name")
    branch.locator('select[name="actions[1].config.conditions[0].operator"]').select_option("contains")
    branch.locator('input[name="actions[1].config.conditions[0].value"]').fill("Acme")
    branch.locator('select[name="_new:actions[1].config.then"]').select_option("wait")
    branch.locator('button[value="add_action:actions[1].config.then"]').click()
    page.locator('input[name="actions[1].config.then[0].config.duration"]').fill("3")
    page.locator('select[name="_new:actions[1].config.else"]').select_option("webhook")
    page.locator('button[value="add_action:actions[1].config.else"]').click()
    page.locator('input[name="actions[1].config.else[0].config.url"]').fill("https://hooks.example.com/deal")
    page.locator('input[name="actions[1].config.else[0].config.headers[0].name"]').fill("Authorization")
    page.locator('input[name="actions[1].config.else[0].config.headers[0].value"]').fill("Bearer browser-secret")
    page.locator('input[name="actions[1].config.else[0].config.headers[0].secret:bool"][type=checkbox]').check()

    # Keyboard: move the branch up with its ↑ button.
    page.locator('button[value="up:actions[1]"]').focus()
    page.keyboard.press("Enter")
    expect(page.locator('input[name="actions[0].actionType"]')).to_have_value("branch")
    expect(page.locator('button[value="down:actions[0]"]')).to_be_focused()  # the moved action keeps focus
    expect(page.locator('input[name="actions[1].config.tags"]')).to_have_value("big, deal")
    expect(page.locator('input[name="actions[0].config.then[0].config.duration"]')).to_have_value("3")
    screenshot(page, "workflow-editor", full_page=True)

    page.get_by_role("button", name="Create workflow").click()
    expect(page.locator(".message.success")).to_contain_text("Saved Big deals (version 1)")
    expect(page.get_by_text("browser-secret")).to_have_count(0)


def test_build_a_workflow_in_the_browser(crm, live_server):
    in_browser(live_server, crm.world.admin, build)
    data = workflow_json(Workflow.objects.get(name="Big deals"))
    assert data["triggerModule"] == "opportunities" and data["triggerType"] == "opportunity_won"
    assert data["triggerFilters"] == {
        "logic": "AND",
        "conditions": [
            {"field": "Amount", "operator": "greater_than", "value": "1000"},
            {"logic": "OR", "conditions": [{"field": "Assigned To", "operator": "is_empty", "value": None}]},
        ],
    }
    branch, tag = data["actions"]
    assert tag["config"] == {"tags": ["big", "deal"]}
    assert branch["config"]["conditions"] == [{"field": "Company Name", "operator": "contains", "value": "Acme"}]
    wait_id = branch["config"]["then"][0].get("id")
    assert wait_id, "a nested action gets a stable id"
    assert branch["config"]["then"] == [
        {"id": wait_id, "actionType": "wait", "config": {"duration": 3, "unit": "minutes"}}
    ]
    [hook] = branch["config"]["else"]
    header_id = hook["config"]["headers"][0].get("id")
    assert header_id, "each stored header row gets a stable id"
    assert hook["config"]["headers"] == [
        {"id": header_id, "name": "Authorization", "value": "********", "secret": True}
    ]
