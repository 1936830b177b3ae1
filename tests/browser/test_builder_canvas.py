"""The builder's canvas and editing by hand in Chromium: a big flow stays readable (screenshots at
1280x800 and 1920 wide), drag a new action between stages, reorder steps by drag and by keyboard,
edit stages from the canvas, and restore a version."""

import re

import pytest
from playwright.sync_api import expect

from actions.models import Action, FlowVersion
from actions.services import action_create
from flows.models import Stage
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STAGES = [
    "Lead",
    "Qualified",
    "Demo",
    "Proposal",
    "Negotiation",
    "Legal review",
    "Contract sent",
    "Signed",
    "Onboarding",
    "Live",
    "Churned",
    "Archived",
]
COLORS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#4b5563"]

PILLS_OVERLAP = """() => {
  const boxes = [...document.querySelectorAll('#canvas > .action-pill')].map(e => e.getBoundingClientRect());
  const hits = [];
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach(b => {
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) hits.push([a, b]);
  }));
  return hits.length;
}"""
TRUNCATED = """() => [...document.querySelectorAll('.action-pill')]
  .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.trim())"""


def big_flow(world):
    """12 stages, 30 actions: forward, back, fan-in, from every stage, and some that move nowhere."""
    flow = world.flow
    flow.stages.all().delete()
    for index, name in enumerate(STAGES):
        Stage.objects.create(flow=flow, name=name, position=index, end_stage=index >= 10)
    verbs = ["Advance", "Skip ahead", "Send back", "Log call", "Escalate", "Fast-track"]
    for i in range(30):
        source = (i * 5) % 12
        kind = i % 6
        target = [source + 1, source + 3, source - 2, None, source + 5, source - 4][kind]
        target = None if target is None else max(0, min(11, target))
        from_stages = [] if i % 10 == 9 else [STAGES[source]] + ([STAGES[(source + 2) % 12]] if i % 7 == 0 else [])
        steps = (
            [{"type": "move_to_stage", "config": {"stage": STAGES[target]}}]
            if target is not None
            else [{"type": "assign_to", "config": {"performer": True}}]
        )
        action_create(
            flow=flow,
            actor=world.admin,
            data={"name": f"{verbs[kind]} {i + 1}", "color": COLORS[i % 7], "from_stages": from_stages, "steps": steps},
        )


def test_big_flow_stays_readable(world, page, login):
    big_flow(world)
    login(world.admin)
    page.goto("/flows/acme/sales/builder")
    expect(page.locator(".stage-box[data-stage-name]")).to_have_count(12)
    assert page.locator(".action-pill").count() >= 30
    assert page.evaluate(PILLS_OVERLAP) == 0
    assert page.evaluate(TRUNCATED) == [], "every action's name fits its pill"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "only the canvas scrolls"
    screenshot(page, "builder-12-stages-30-actions-1280")
    page.locator("#canvas-scroll").evaluate("el => el.scrollLeft = 1300")
    screenshot(page, "builder-12-stages-30-actions-1280-scrolled")
    page.locator(".action-pill", has_text="Escalate 5").click()
    expect(page.locator("#action-props input[name=name]")).to_have_value("Escalate 5")
    page.set_viewport_size({"width": 1920, "height": 1080})
    screenshot(page, "builder-12-stages-30-actions-1920")
    page.get_by_role("button", name="Fit the canvas").click()
    screenshot(page, "builder-12-stages-30-actions-fit")
    assert not page.js_errors, page.js_errors


def test_edit_by_hand(seed, page, login):
    world = seed.world
    seed.action("Start", [{"type": "move_to_stage", "config": {"stage": "In Progress"}}], ["Not Started"])
    login(world.admin)
    page.goto("/flows/acme/sales/builder")

    # Drag from Not Started's handle onto Completed: a new action moving tasks between them.
    handle = page.locator('.stage-box[data-stage-name="Not Started"] .stage-handle').bounding_box()
    target = page.locator('.stage-box[data-stage-name="Completed"]').bounding_box()
    page.mouse.move(handle["x"] + 8, handle["y"] + 8)
    page.mouse.down()
    page.mouse.move(target["x"] + 40, target["y"] + 30, steps=8)
    page.mouse.up()
    expect(page.locator(".action-pill", has_text="Move to Completed")).to_be_visible()
    expect(page.locator("#action-props input[name=name]")).to_have_value("Move to Completed")
    name = page.locator("#action-props input[name=name]")
    name.fill("Close")
    name.press("Tab")
    expect(page.locator(".action-pill", has_text="Close")).to_be_visible()

    # Two more steps: assign to the performer, then an email.
    page.get_by_text("+ New Step").click()
    page.get_by_role("menuitem", name=re.compile("Assign to")).click()
    page.locator("dialog#step-modal select[name='config.email']").select_option("__performer__")
    page.locator("dialog#step-modal").get_by_role("button", name="Apply").click()
    expect(page.locator("#steps .step")).to_have_count(2)
    page.get_by_text("+ New Step").click()
    page.get_by_role("menuitem", name=re.compile("Send email")).click()
    dialog = page.locator("dialog#step-modal")
    dialog.locator("input[name='config.to']").fill("not an address")
    dialog.locator("input[name='config.subject']").fill("Closed {{task.Company Name}}")
    dialog.locator("textarea[name='config.body']").fill("Done.")
    dialog.get_by_role("button", name="Apply").click()
    expect(dialog.locator("#step-form-errors")).to_contain_text("To: ")
    expect(dialog.locator("input[name='config.to']")).to_have_attribute("aria-invalid", "true")
    dialog.locator("input[name='config.to']").fill("performer")
    dialog.get_by_role("button", name="Apply").click()
    steps = page.locator("#steps .step")
    expect(steps).to_have_count(3)

    # Reorder: drag the email above the first step, then move it down with the keyboard.
    steps.nth(2).drag_to(steps.nth(0), target_position={"x": 40, "y": 4})
    expect(steps.nth(0)).to_contain_text("Send email")
    page.get_by_role("button", name="Move step 1 down").focus()
    page.keyboard.press("Enter")
    expect(steps.nth(1)).to_contain_text("Send email")
    expect(steps.nth(0)).to_contain_text("Move to stage")
    screenshot(page, "builder-edited-by-hand")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#savebar")).to_contain_text("Saved as version")
    close = Action.objects.get(name="Close")
    assert list(close.steps.values_list("type", flat=True)) == ["move_to_stage", "send_email", "assign_to"]
    assert [s.name for s in close.from_stages.all()] == ["Not Started"]

    # Stages from the canvas: add one, rename it, move it left.
    page.get_by_label("New stage name").fill("Review")
    page.get_by_role("button", name="+ Stage").click()
    review = page.locator('.stage-box[data-stage-name="Review"]')
    expect(review).to_be_visible()
    expect(page.get_by_label("New stage name")).to_have_value("")  # emptied once added (builder.js)
    review.locator("summary").click()
    review.get_by_label("Rename").fill("QA")
    review.get_by_role("button", name="Rename").click()
    qa = page.locator('.stage-box[data-stage-name="QA"]')
    expect(qa).to_be_visible()
    qa.locator("summary").click()
    qa.get_by_role("button", name="← Move left").click()
    expect(page.locator(".stage-box[data-stage-name]").nth(2)).to_have_attribute("data-stage-name", "QA")
    assert list(seed.flow.stages.values_list("name", flat=True)) == ["Not Started", "In Progress", "QA", "Completed"]

    # The history lists the save; restoring the version before it removes "Close" again.
    page.get_by_role("link", name="Version history").click()
    expect(page.locator("#version-2")).to_contain_text('Added action "Close"')
    screenshot(page, "builder-versions")
    page.get_by_role("button", name="Restore version 1").click()
    expect(page.locator(".messages")).to_contain_text("Version 1 restored as version 3")
    assert not Action.objects.filter(name="Close").exists()
    assert FlowVersion.objects.filter(flow=seed.flow).count() == 3
    assert not page.js_errors, page.js_errors
