"""Every action step type in the Flow Builder, in the browser: its form opens from "+ New Step",
a saved step of each type opens, applies unchanged and saves, an API Call's URL is edited with its
secret header left masked (the stored secret is kept), and every step is deleted."""

import re

import pytest
from playwright.sync_api import expect

from actions.steps.base import step_types
from actions.steps.http import secret_values
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "Bearer kept-secret-91"


def samples(url: str) -> dict[str, dict]:
    """A valid config per action step type (the registry's list must match it)."""
    return {
        "api_call": {"url": url, "headers": [{"name": "Authorization", "value": SECRET, "secret": True}]},
        "move_to_stage": {"stage": "Completed"},
        "assign_to": {"performer": True},
        "update_field": {"fields": {"Company Name": "Renamed"}},
        "delete_task": {},
        "schedule_stage_change": {"stage": "Completed", "days": 2},
        "send_email": {"to": ["owner"], "subject": "Hi", "body": "Done"},
    }


def test_every_step_type_added_edited_and_deleted_in_the_builder(seed, page, login, receiver):
    configs = samples(receiver.url_for("/first"))
    types = {t.type: t for t in step_types("action")}
    assert set(configs) == set(types), "a new action step type needs a sample here"
    action = seed.action("Every", [{"type": name, "config": config} for name, config in configs.items()])
    login(seed.world.admin)
    page.goto("/flows/acme/sales/builder")
    # The flow's only action is selected when the builder opens (selecting it again re-renders the
    # step list, racing the menu below).
    expect(page.locator("#action-props input[name=name]")).to_have_value("Every")
    steps = page.locator("#steps .step")
    expect(steps).to_have_count(len(configs))
    dialog = page.locator("dialog#step-modal")

    # Adding: each type's form opens from the menu.
    for step_type in types.values():
        page.get_by_text("+ New Step").click()
        page.get_by_role("menuitem", name=re.compile(re.escape(step_type.label))).click()
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text(step_type.label)
        dialog.get_by_role("button", name="Cancel").click()
        expect(page.locator("dialog#step-modal[open]")).to_have_count(0)

    # Editing: each saved step opens in its form and applies unchanged; the API Call gets a new URL.
    for index, name in enumerate(configs):
        steps.nth(index).locator(".step-label").click()
        expect(dialog).to_be_visible()
        if name == "api_call":
            expect(dialog.get_by_label("Header value").first).to_have_value("********")
            dialog.locator("input[name='config.url']").fill(receiver.url_for("/edited"))
            screenshot(page, "builder-api-call-secret-masked")
        dialog.get_by_role("button", name="Apply").click()
        expect(page.locator("dialog#step-modal")).to_have_count(0)
        expect(steps.nth(index)).not_to_have_class(re.compile("has-error"))
    expect(steps.nth(0)).to_contain_text(f"POST {receiver.netloc}/edited · 1 header")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#savebar")).to_contain_text("Saved as version")
    call = action.steps.get(type="api_call")
    assert call.config["url"] == receiver.url_for("/edited")
    assert SECRET in secret_values(call.config["headers"]), "the masked secret kept its stored value"
    assert [s.type for s in action.steps.order_by("position")] == list(configs)

    # Deleting: every step goes, and Save stores an action without steps.
    for remaining in range(len(configs), 0, -1):
        page.get_by_role("button", name="Delete step 1").click()
        expect(steps).to_have_count(remaining - 1)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#savebar")).to_contain_text("Saved as version")
    assert not action.steps.exists()
    assert not page.js_errors, page.js_errors
