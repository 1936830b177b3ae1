"""Every action step type in the Flow Builder, in the browser: each is added from "+ New Step" with
its form filled in and applied; a value is changed in each saved step's form and saved; an API
Call's URL path is edited with its secret header left masked and a header row added in the page
(the stored secret is kept, and still sent); then every step is deleted."""

import re

import pytest
from playwright.sync_api import expect

from actions.engine import run_execute
from actions.services import action_perform
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


def forms(seed, receiver) -> dict:
    """Per type: fill its new form, change one value of a saved one, and what it then holds."""

    def fill(name, value):
        return lambda d: d.locator(f'[name="config.{name}"]').fill(value)

    def pick(name, value):
        return lambda d: d.locator(f'[name="config.{name}"]').select_option(value)

    def both(*steps):
        return lambda d: [step(d) for step in steps]

    def nothing(d):
        return None

    def add_header(d):
        d.get_by_role("button", name="+ Add header").click()
        d.get_by_label("Header name").nth(1).fill("X-Team")
        d.get_by_label("Header value").nth(1).fill("sales")

    email = seed.world.admin.email
    return {
        "api_call": (
            fill("url", receiver.url_for("/added")),
            both(fill("url", receiver.url_for("/edited")), add_header),
            lambda c: (
                c["url"] == receiver.url_for("/edited")
                and [h["name"] for h in c["headers"]] == ["Authorization", "X-Team"]
                and SECRET in secret_values(c["headers"])
            ),
        ),
        "move_to_stage": (
            pick("stage", "Completed"),
            pick("stage", "In Progress"),
            lambda c: c == {"stage": "In Progress"},
        ),
        "assign_to": (nothing, pick("email", email), lambda c: c == {"email": email}),
        "update_field": (
            both(fill("fields[0].name", "Company Name"), fill("fields[0].value", "Added")),
            fill("fields[0].value", "Edited"),
            lambda c: c == {"field": "Company Name", "value": "Edited"},
        ),
        "delete_task": (nothing, nothing, lambda c: c == {}),
        "schedule_stage_change": (
            pick("stage", "Completed"),
            fill("days", "5"),
            lambda c: c == {"stage": "Completed", "days": 5},
        ),
        "send_email": (
            both(fill("to", "owner"), fill("subject", "S"), fill("body", "B")),
            fill("subject", "Hello"),
            lambda c: c["subject"] == "Hello" and c["to"] == ["owner"],
        ),
    }


def test_every_step_type_added_edited_and_deleted_in_the_builder(seed, page, login, receiver):
    configs = samples(receiver.url_for("/first"))
    table = forms(seed, receiver)
    types = {t.type: t for t in step_types("action")}
    assert set(configs) == set(types) == set(table), "a new action step type needs a sample and a form here"
    action = seed.action("Every", [{"type": name, "config": config} for name, config in configs.items()])
    login(seed.world.admin)
    page.goto("/flows/acme/sales/builder")
    # The flow's only action is selected when the builder opens (selecting it again re-renders the
    # step list, racing the menu below).
    expect(page.locator("#action-props input[name=name]")).to_have_value("Every")
    steps = page.locator("#steps .step")
    expect(steps).to_have_count(len(configs))
    dialog = page.locator("dialog#step-modal")

    # Adding: each type's form opens from the menu, is filled in and applied.
    for count, step_type in enumerate(types.values(), start=len(configs) + 1):
        page.get_by_text("+ New Step").click()
        page.get_by_role("menuitem", name=re.compile(re.escape(step_type.label))).click()
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text(step_type.label)
        table[step_type.type][0](dialog)
        dialog.get_by_role("button", name="Apply").click()
        expect(page.locator("dialog#step-modal")).to_have_count(0)
        expect(steps).to_have_count(count)
        expect(steps.nth(count - 1)).not_to_have_class(re.compile("has-error"))
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#savebar")).to_contain_text("Saved as version")
    assert [s.type for s in action.steps.order_by("position")] == [*configs, *types]

    # Editing: a value changed in each saved step's form; the API Call gets a new path on its host,
    # its secret left masked, and a header row added in the page.
    for index, name in enumerate(configs):
        steps.nth(index).locator(".step-label").click()
        expect(dialog).to_be_visible()
        if name == "api_call":
            expect(dialog.get_by_label("Header value").first).to_have_value("********")
        table[name][1](dialog)
        if name == "api_call":
            screenshot(page, "builder-api-call-secret-masked")
        dialog.get_by_role("button", name="Apply").click()
        expect(page.locator("dialog#step-modal")).to_have_count(0)
        expect(steps.nth(index)).not_to_have_class(re.compile("has-error"))
    expect(steps.nth(0)).to_contain_text(f"POST {receiver.netloc}/edited · 2 headers")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#savebar")).to_contain_text("Saved as version")
    saved = list(action.steps.order_by("position"))
    for step, name in zip(saved, configs, strict=False):
        assert step.type == name and table[name][2](step.config), (name, step.config)
    # The stored secret is still sent.
    run_execute(action_perform(action=action, task=seed.task, actor=seed.world.admin).pk)
    sent = receiver.requests[0]
    assert sent.path == "/edited" and sent.headers["Authorization"] == SECRET and sent.headers["X-Team"] == "sales"

    # Deleting: every step goes, and Save stores an action without steps.
    for remaining in range(len(saved), 0, -1):
        page.get_by_role("button", name="Delete step 1", exact=True).click()
        expect(steps).to_have_count(remaining - 1)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#savebar")).to_contain_text("Saved as version")
    assert not action.steps.exists()
    assert not page.js_errors, page.js_errors
