"""Every workflow action type in the workflow editor, in headless Chromium: each is added from the
action menu, shows its form, and is removed; a saved webhook's URL is edited with its secret header
left masked, tried with "Send test request" against a loopback receiver, and saved with the stored
secret kept."""

import pytest
from playwright.sync_api import expect

from actions.steps.base import step_types
from actions.steps.http import secret_values
from tests.browser.conftest import screenshot
from tests.receivers import Receiver
from tests.workflows.test_pages_browser import in_browser
from workflows import services
from workflows.models import Workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "Bearer editor-secret-55"


def test_every_action_type_added_and_removed_and_a_webhook_secret_kept(crm, live_server):
    types = sorted(step_types("workflow"), key=lambda t: t.label)
    with Receiver() as receiver:
        receiver.set_response(status=202, body=b'{"queued": true}', headers={"Content-Type": "application/json"})
        workflow = services.workflow_create(
            user=crm.world.admin,
            data={
                "organization": "acme",
                "name": "Hook",
                "triggerModule": "leads",
                "triggerType": "lead_created",
                "isActive": False,
                "actions": [
                    {
                        "actionType": "webhook",
                        "config": {
                            "url": receiver.url_for("/first"),
                            "headers": [{"name": "Authorization", "value": SECRET, "secret": True}],
                        },
                    }
                ],
            },
        )
        crm.lead(**{"Company Name": "Browser Co"})

        def drive(page) -> None:
            page.goto(f"/organizations/acme/workflows/{workflow.pk}")
            actions = page.locator("#actions")
            # Adding and removing: every type from the menu gets its form, then goes again.
            for step_type in types:
                actions.locator('select[name="_new:actions"]').last.select_option(step_type.type)
                actions.locator('button[value="add_action:actions"]').click()
                added = actions.locator('[data-path="actions[1]"]')
                expect(added).to_have_attribute("data-type", step_type.type)
                expect(added.locator(".wf-config")).not_to_be_empty()
                added.get_by_role("button", name=f"Remove {step_type.label} (action 2)").click()
                expect(actions.locator('[data-path="actions[1]"]')).to_have_count(0)

            # Editing the saved webhook: the secret stays masked, the URL changes, it is tried.
            value = page.locator('input[name="actions[0].config.headers[0].value"]')
            expect(value).to_have_value("********")
            page.locator('input[name="actions[0].config.url"]').fill(receiver.url_for("/edited"))
            actions.get_by_role("button", name="Send test request").click()
            result = actions.locator("#test-result")
            expect(result).to_contain_text("202")
            expect(result).to_contain_text('{"queued": true}')
            expect(result).not_to_contain_text("editor-secret")
            screenshot(page, "workflow-editor-test-request")
            page.get_by_role("button", name="Save as version 2").click()
            expect(page.locator(".message.success")).to_contain_text("Saved Hook (version 2)")

        in_browser(live_server, crm.world.admin, drive)
        tried = receiver.requests[0]
        assert tried.path == "/edited" and tried.headers["Authorization"] == SECRET
    hook = Workflow.objects.get(pk=workflow.pk).actions.get()
    assert hook.config["url"] == receiver.url_for("/edited")
    assert SECRET in secret_values(hook.config["headers"])
