"""The seed's scenario through the browser alone: open the Flow Builder from the board, add an API
Call with an Authorization header to Finish, Apply, Save; then perform Finish on tasks while a real
`manage.py qcluster` worker runs them, and see the answer's date, then a failure's alert."""

import json
import re

import pytest
from playwright.sync_api import expect

from actions.models import Run, Step
from tasks.models import Task
from tasks.services import task_create, task_to_json
from tests.actions.conftest import reply_json
from tests.actions.test_worker import Cluster
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "Bearer seed-secret-7f3a"


def test_seed_scenario_through_the_ui(seed, page, login, receiver):
    world = seed.world
    seed.action("Start", [{"type": "move_to_stage", "config": {"stage": "In Progress"}}], ["Not Started"])
    finish = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    second = task_create(
        flow=seed.flow,
        actor=world.admin,
        data={
            "Stage": "In Progress",
            "Company ID": "43",
            "Company Name": "Globex",
            "Expected Close Date": "2020-03-15",
        },
    )
    worker = Cluster().start()  # warms up while the builder part runs
    try:
        login(world.admin)
        page.goto("/flows/acme/sales")
        screenshot(page, "board-before")
        page.get_by_role("link", name="Flow Builder").click()
        expect(page).to_have_url(re.compile(r"/flows/acme/sales/builder$"))

        # Select Finish on the canvas.
        page.locator(".action-pill", has_text="Finish").click()
        expect(page.locator("#action-props input[name=name]")).to_have_value("Finish")
        expect(page.locator("#steps .step")).to_have_count(1)

        # + New Step → API Call opens the modal.
        page.get_by_text("+ New Step").click()
        page.get_by_role("menuitem", name=re.compile("API Call")).click()
        dialog = page.locator("dialog#step-modal")
        expect(dialog).to_be_visible()
        dialog.locator("input[name='config.url']").fill(receiver.url_for("/finish"))
        dialog.get_by_label("Header name").first.fill("Authorization")
        dialog.get_by_label("Header value").first.fill(SECRET)

        # Try it against the receiver before applying.
        reply_json(receiver, {"task": {"Expected Close Date": "2020-02-01"}})
        dialog.locator("select[name=sample_task]").select_option(str(seed.task.pk))
        dialog.get_by_role("button", name="Send test request").click()
        result = dialog.locator("#test-result")
        expect(result).to_contain_text("200")
        expect(result.locator(".changes")).to_contain_text("Expected Close Date: 2020-01-31 → 2020-02-01")
        screenshot(page, "builder-api-call-modal")
        assert receiver.requests[0].headers["Authorization"] == SECRET
        receiver.clear()

        # Apply: the modal closes and the draft has an unsaved change.
        dialog.get_by_role("button", name="Apply").click()
        expect(page.locator("dialog#step-modal")).to_have_count(0)
        expect(page.locator("#steps .step")).to_have_count(2)
        expect(page.locator("#steps .step").nth(1)).to_contain_text("API Call")
        expect(page.locator("#savebar")).to_contain_text("Unsaved changes")
        assert Step.objects.filter(action=finish).count() == 1, "Apply only changes the draft"

        # Leaving now warns.
        warnings = []

        def stay(dialog):
            warnings.append(dialog.type)
            dialog.dismiss()

        page.on("dialog", stay)
        page.get_by_role("link", name="Sales board").click(no_wait_after=True)
        page.wait_for_function("() => true")
        assert warnings == ["beforeunload"]
        page.remove_listener("dialog", stay)
        expect(page).to_have_url(re.compile(r"/builder$"))
        screenshot(page, "builder-unsaved")

        # Save commits the draft as a new version.
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator("#savebar")).to_contain_text("Saved as version 3")
        expect(page.locator("#savebar")).to_contain_text("All changes saved")
        screenshot(page, "builder-saved")
        steps = list(Step.objects.filter(action=finish).order_by("position"))
        assert [s.type for s in steps] == ["move_to_stage", "api_call"]
        assert steps[1].config["url"] == receiver.url_for("/finish")
        assert SECRET not in json.dumps(steps[1].config), "stored encrypted"

        # Perform Finish on the seed's task: the answer moves the close date.
        page.goto(f"/flows/acme/sales/tasks/{seed.task.pk}")
        page.locator("#task-actions").get_by_role("button", name="Finish").click()
        expect(page.locator("#task-fields")).to_contain_text("2020-02-01", timeout=30_000)
        screenshot(page, "task-after-finish")
        [request] = receiver.requests
        assert request.headers["Authorization"] == SECRET
        body = json.loads(request.body)
        assert body["action"] == "Finish" and body["user"]["email"] == world.admin.email
        assert body["task"]["Stage"] == "Completed" and body["task"]["Company ID"] == "42"
        task = task_to_json(task=Task.objects.get(pk=seed.task.pk))
        assert task["Expected Close Date"] == "2020-02-01" and task["Stage"] == "Completed"
        assert Run.objects.get(task_ref=seed.task.pk).version == 3

        # The receiver fails: performing Finish on the second task alerts, naming the step.
        receiver.set_response(status=500, body=b"upstream is down")
        page.goto(f"/flows/acme/sales/tasks/{second.pk}")
        page.locator("#task-actions").get_by_role("button", name="Finish").click()
        alert = page.locator(".run-status.fail")
        expect(alert).to_contain_text("moved to Completed; step 2, API Call, failed", timeout=30_000)
        expect(alert).to_contain_text("the API answered 500")
        screenshot(page, "task-finish-failed")

        page.goto("/flows/acme/sales")
        screenshot(page, "board-after")
    finally:
        # Its work is done and checked; a graceful stop would only cost seconds.
        worker.kill()
    assert not page.js_errors, page.js_errors
