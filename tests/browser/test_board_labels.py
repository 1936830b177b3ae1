"""The board's cards show whole field labels where there is room ("Number of Employees", not
"Number of E…") and numbers as people write them, in headless Chromium."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_card_labels_are_whole_and_numbers_formatted(seed, page, login):
    login(seed.world.admin)
    page.goto("/flows/acme/sales")
    card = page.locator(f"#task-{seed.task.pk}")
    label = card.locator("dt", has_text="Number of Employees")
    expect(label).to_be_visible()
    # Nothing is hidden: the label's full text fits the box it is drawn in.
    assert label.evaluate("el => el.scrollWidth <= el.clientWidth && getComputedStyle(el).textOverflow !== 'ellipsis'")
    # With room on the card, the label stays on one line.
    box = label.bounding_box()
    line = float(label.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)"))
    assert box["height"] < 1.5 * line and label.inner_text() == "Number of Employees"
    expect(card.locator("dd").filter(has_text="10,000.00")).to_have_count(1)
    screenshot(page, "board-card-labels")
    assert page.js_errors == []
