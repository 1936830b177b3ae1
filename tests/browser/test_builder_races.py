"""The builder keeps showing the server's state when requests race (an edit sent as Save is pressed),
and an invalid edit says why where it was made."""

import pytest
from playwright.sync_api import expect

from actions.models import Action, FlowVersion
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def console_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def test_save_pressed_while_an_edit_is_sent_shows_the_saved_state(seed, page, login):
    seed.action("Start", [{"type": "move_to_stage", "config": {"stage": "In Progress"}}], ["Not Started"])
    finish = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    version = FlowVersion.objects.filter(flow=seed.flow).count()
    errors = console_errors(page)
    login(seed.world.admin)
    page.goto("/flows/acme/sales/builder")
    page.locator(".action-pill", has_text="Finish").click()
    expect(page.locator("#action-props input[name=name]")).to_have_value("Finish")

    page.get_by_label("Back to the board").check()
    expect(page.locator("#savebar")).to_contain_text("Unsaved changes (1 action)")
    # Typing sends nothing yet: the name goes when the input loses focus, which pressing Save does,
    # so the name's request and Save's race.
    page.locator("#action-props input[name=name]").fill("Finish up")
    page.locator("#save-button").click()

    savebar = page.locator("#savebar")
    expect(savebar).to_contain_text(f"Saved as version {version + 1}")
    expect(savebar).to_contain_text("All changes saved")
    expect(page.locator("#save-button")).to_be_disabled()
    expect(page.locator(".action-pill", has_text="Finish up")).to_have_count(1)
    screenshot(page, "builder-save-during-edit")
    finish.refresh_from_db()
    assert (finish.name, finish.navigate) == ("Finish up", "board")
    assert FlowVersion.objects.filter(flow=seed.flow).count() == version + 1

    # The page still answers: selecting another action shows it.
    page.locator(".action-pill", has_text="Start").click()
    expect(page.locator("#action-props input[name=name]")).to_have_value("Start")
    assert not [e for e in errors if "htmx" in e], errors
    assert not page.js_errors, page.js_errors


def test_typing_a_name_enables_save_at_once(seed, page, login):
    finish = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    login(seed.world.admin)
    page.goto(f"/flows/acme/sales/builder?action=a{finish.pk}")
    expect(page.locator("#save-button")).to_be_disabled()
    page.locator("#action-props input[name=name]").fill("Close")
    page.locator("#save-button").click()
    expect(page.locator("#savebar")).to_contain_text("Saved as version")
    finish.refresh_from_db()
    assert finish.name == "Close"


def test_clearing_the_name_says_why_where_it_was_made(seed, page, login):
    finish = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    seed.action("Start", [], ["Not Started"])
    login(seed.world.admin)
    page.goto(f"/flows/acme/sales/builder?action=a{finish.pk}")
    name = page.locator("#action-props input[name=name]")
    name.fill("")
    name.press("Tab")
    errors = page.locator("#action-props #action-errors")
    expect(errors).to_contain_text("Name: An action needs a name.")
    expect(page.locator("#savebar")).to_contain_text("Unsaved changes (1 action)")
    expect(page.locator(f'#canvas .action-pill[data-action-key="a{finish.pk}"]')).to_have_text("(no name)")
    screenshot(page, "builder-name-cleared")

    # Another action's name is taken too; a good name clears the message.
    name.fill("start")
    name.press("Tab")
    expect(errors).to_contain_text('Another action is already called "start".')
    name.fill("Close")
    name.press("Tab")
    expect(errors).to_be_empty()
    expect(page.locator(f'#canvas .action-pill[data-action-key="a{finish.pk}"]')).to_have_text("Close")
    assert Action.objects.get(pk=finish.pk).name == "Finish", "only Save writes"
