"""An action run followed in the browser: the task page while a slow run is in flight and after it
fails, and the board, where a failure stays on the card until it is dismissed. The engine runs the
run in a thread of the test (where the worker would), against a loopback receiver that answers
only when the test lets it."""

import re
import threading

import pytest
from django.db import connection
from playwright.sync_api import expect

from actions.engine import run_execute
from actions.models import Run
from tasks.models import Notification
from tests.browser.conftest import screenshot
from tests.receivers import Reply

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Gate:
    """The receiver's answer waits until open() (a slow API), then fails with a 500."""

    def __init__(self, receiver):
        self.event = threading.Event()
        receiver.set_handler(self.answer)

    def answer(self, request):
        self.event.wait(20)
        return Reply(500, b"upstream is down")

    def open(self):
        self.event.set()


def in_thread(run_id: int) -> threading.Thread:
    def work():
        try:
            run_execute(run_id)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def wait_for_run() -> Run:
    for _ in range(100):
        run = Run.objects.filter(kind=Run.Kind.ACTION).first()
        if run is not None:
            return run
        threading.Event().wait(0.05)
    raise AssertionError("no run was created")


def finish_with_api_call(seed, receiver):
    seed.action("Reopen", [{"type": "move_to_stage", "config": {"stage": "In Progress"}}], [])
    return seed.action(
        "Finish",
        [
            {"type": "move_to_stage", "config": {"stage": "Completed"}},
            {"type": "api_call", "config": {"url": receiver.url_for("/finish")}},
        ],
    )


def test_the_task_page_follows_a_slow_run_and_shows_what_its_failure_left(seed, page, login, receiver):
    finish_with_api_call(seed, receiver)
    gate = Gate(receiver)
    login(seed.world.admin)
    page.goto(f"/flows/acme/sales/tasks/{seed.task.pk}")
    expect(page.locator("#task-crumbs")).to_contain_text("/ In Progress")
    actions = page.locator("#task-actions")
    actions.get_by_role("button", name="Finish").click()

    # In flight: the buttons say so and wait.
    finish = actions.locator("button[data-action=Finish]")
    expect(finish).to_have_text("Finish · running…")
    expect(finish).to_be_disabled()
    expect(actions.locator("button[data-action=Reopen]")).to_be_disabled()
    thread = in_thread(wait_for_run().pk)
    try:
        # Step 1 moved the task; step 2 waits for the API: the page shows the move already.
        status = page.locator(".run-status.pending")
        expect(status).to_contain_text("step 2 of 2: API Call", timeout=15_000)
        expect(page.locator("#task-crumbs")).to_contain_text("/ Completed")
        expect(page.locator("#row-stage")).to_contain_text("Completed")
        expect(actions.locator("button[data-action=Reopen]")).to_be_disabled()
        expect(actions.locator("button[data-action=Finish]")).to_have_count(0)
        screenshot(page, "task-run-in-flight")
    finally:
        gate.open()
        thread.join(30)

    alert = page.locator(".run-status.fail")
    expect(alert).to_contain_text(
        "Finish failed: moved to Completed; step 2, API Call, failed: the API answered 500", timeout=15_000
    )
    run = Run.objects.get(kind=Run.Kind.ACTION)
    expect(alert.get_by_role("link", name="See the run")).to_have_attribute("href", f"/flows/acme/sales/runs/{run.pk}")
    expect(page.locator("#notifications-badge")).to_have_text("1")
    expect(actions.locator("button[data-action=Reopen]")).to_be_enabled()
    expect(page.locator("#task-history")).to_contain_text("Completed")
    screenshot(page, "task-run-failed")
    assert "{#" not in page.locator("main").inner_text()
    assert not page.js_errors, page.js_errors


def test_a_failure_on_the_board_stays_until_dismissed(seed, page, login, receiver):
    finish_with_api_call(seed, receiver)
    receiver.set_response(status=500, body=b"upstream is down")
    login(seed.world.admin)
    page.goto("/flows/acme/sales")
    card = page.locator(f"#task-{seed.task.pk}")
    expect(page.locator("#notifications-badge")).to_be_hidden()
    card.get_by_role("button", name="Finish").click()
    in_thread(wait_for_run().pk).join(30)

    alert = card.locator(".run-status.fail")
    expect(alert).to_contain_text("moved to Completed; step 2, API Call, failed", timeout=15_000)
    expect(page.locator("#notifications-badge")).to_have_text("1")
    # The board fetches its columns again after a run ends: the card moves, and keeps its alert.
    moved = page.locator(f"#cards-{seed.completed.pk} #task-{seed.task.pk}")
    expect(moved).to_have_count(1, timeout=10_000)
    page.wait_for_timeout(2_000)
    expect(moved.locator(".run-status.fail")).to_be_visible()
    expect(moved.get_by_role("link", name="See the run")).to_have_attribute("href", re.compile(r"/runs/\d+$"))
    screenshot(page, "board-run-failed")
    assert "{#" not in page.locator("main").inner_text()
    page.reload()
    expect(moved.locator(".run-status.fail")).to_contain_text("moved to Completed; step 2, API Call, failed")

    moved.get_by_role("button", name="Dismiss").click()
    expect(moved.locator(".run-status.fail")).to_have_count(0)
    expect(page.locator("#notifications-badge")).to_be_hidden()
    assert not Notification.objects.filter(user=seed.world.admin, read_at__isnull=True).exists()
    page.goto("/notifications")
    expect(page.locator(".notification").first).to_contain_text("Finish")
    assert not page.js_errors, page.js_errors
