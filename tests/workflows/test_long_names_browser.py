"""Long unbroken names wrap instead of widening the page, and the editor shows every error after one
submit, in headless Chromium (the page's width is measured, not guessed)."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.workflows.crm import crm  # noqa: F401  (overrides the conftest fixture)
from tests.workflows.test_pages_browser import in_browser
from workflows import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = "W" * 200
WIDTH = 1280


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_a_200_character_name_wraps_on_the_workflow_pages(crm, live_server):
    workflow = services.workflow_create(
        user=crm.world.admin,
        data={
            "organization": "acme",
            "name": LONG,
            "description": "D" * 300,
            "triggerModule": "leads",
            "triggerType": "lead_created",
            "isActive": False,
            "actions": [{"actionType": "add_tag", "config": {"tag": "seen"}}],
        },
    )

    def drive(page) -> None:
        page.goto("/organizations/acme/workflows")
        expect(page.locator(".wf-row")).to_have_count(1)
        assert page_width(page) <= WIDTH, page_width(page)
        name_box = page.locator(".wf-row td").first.bounding_box()
        assert name_box["width"] < WIDTH and name_box["height"] > 40  # wrapped onto several lines
        screenshot(page, "workflow-list-long-name", full_page=True)
        for url in (
            f"/organizations/acme/workflows/{workflow.pk}",
            f"/organizations/acme/workflows/{workflow.pk}/runs",
        ):
            page.goto(url)
            assert page_width(page) <= WIDTH, (url, page_width(page))
        screenshot(page, "workflow-runs-long-name", full_page=True)

    in_browser(live_server, crm.world.admin, drive)


def test_the_editor_shows_every_error_after_one_submit(crm, live_server):
    def drive(page) -> None:
        page.goto("/organizations/acme/workflows/new")
        # No name, a webhook without a URL and a wait of a negative duration: three groups at once.
        actions = page.locator("#actions")
        actions.locator('select[name="_new:actions"]').select_option("webhook")
        actions.locator('button[value="add_action:actions"]').click()
        expect(page.locator('input[name="actions[0].config.url"]')).to_be_visible()
        actions.locator('select[name="_new:actions"]').select_option("wait")
        actions.locator('button[value="add_action:actions"]').click()
        page.locator('input[name="actions[1].config.duration"]').fill("-4")
        page.get_by_role("button", name="Create workflow").click()
        summary = page.locator("#error-summary li")
        expect(summary).to_have_count(3)
        expect(page.locator('input[name="name"]')).to_have_attribute("aria-invalid", "true")
        expect(page.locator('[data-path="actions[0]"] .errorlist')).to_contain_text("is required")
        expect(page.locator('[data-path="actions[1]"] .errorlist')).to_have_count(1)
        screenshot(page, "workflow-editor-all-errors", full_page=True)

    in_browser(live_server, crm.world.admin, drive)
