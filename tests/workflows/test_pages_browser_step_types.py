"""Every workflow action type in the workflow editor, in headless Chromium: each is added from the
action menu and its form filled in, saved; then a value is changed in each form and saved; then
each is removed and saved. A saved webhook's URL path is edited with its secret header left masked
and a header row added in the page, tried with "Send test request" against a loopback receiver, and
saved with the stored secret kept (and sent)."""

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


def forms(crm, receiver) -> dict:
    """Per type: fill its new form, change one value, and what the saved config then holds
    (the registry's list of workflow types must match it)."""
    admin = crm.world.admin

    def fill(name, value):
        return lambda a, p: a.locator(f'[name="{p}{name}"]').fill(value)

    def pick(name, value):
        return lambda a, p: a.locator(f'[name="{p}{name}"]').select_option(value)

    def both(*steps):
        return lambda a, p: [step(a, p) for step in steps]

    def nothing(a, p):
        return None

    return {
        "add_tag": (fill("tags", "won"), fill("tags", "won, big"), lambda c: c["tags"] == ["won", "big"]),
        "assign_owner": (
            pick("userIds:list", str(admin.pk)),
            pick("algorithm", "least_loaded"),
            lambda c: c["algorithm"] == "least_loaded" and len(c["userIds"]) == 1,
        ),
        "branch": (
            both(pick("conditions[0].field", "Company Name"), fill("conditions[0].value", "Acme")),
            fill("conditions[0].value", "Globex"),
            lambda c: c["conditions"][0]["value"] == "Globex",
        ),
        "create_opportunity": (pick("stage", "Prospecting"), pick("stage", "Won"), lambda c: c["stage"] == "Won"),
        "create_project": (pick("stage", "Planned"), pick("stage", "Running"), lambda c: c["stage"] == "Running"),
        "create_task": (
            both(fill("fields[0].name", "Name"), fill("fields[0].value", "Call")),
            fill("fields[0].value", "Call back"),
            lambda c: c["fields"] == {"Name": "Call back"},
        ),
        "send_email": (
            both(fill("to", "owner"), fill("subject", "Hi"), fill("body", "Done")),
            fill("subject", "Hello"),
            lambda c: c["subject"] == "Hello" and c["to"] == ["owner"],
        ),
        "send_notification": (fill("message", "Hi"), fill("message", "Hello"), lambda c: c["message"] == "Hello"),
        "send_sms": (
            both(fill("to", "+15551234567"), fill("body", "x")),
            fill("body", "y"),
            lambda c: c["body"] == "y",
        ),
        "send_whatsapp": (
            both(fill("to", "+15551234567"), fill("body", "x")),
            fill("body", "z"),
            lambda c: c["body"] == "z",
        ),
        "update_field": (
            both(fill("fields[0].name", "Source"), fill("fields[0].value", "web")),
            fill("fields[0].value", "mail"),
            lambda c: c == {"field": "Source", "value": "mail"},
        ),
        "wait": (nothing, fill("duration", "7"), lambda c: float(c["duration"]) == 7),
        "webhook": (
            fill("url", receiver.url_for("/other")),
            pick("method", "PUT"),
            lambda c: c["method"] == "PUT" and c["url"] == receiver.url_for("/other"),
        ),
        "move_to_stage": (pick("stage", "Qualified"), pick("stage", "Lost"), lambda c: c == {"stage": "Lost"}),
        "assign_to": (pick("email", admin.email), pick("email", "__performer__"), lambda c: c == {"performer": True}),
        "delete_task": (nothing, nothing, lambda c: c == {}),
        "schedule_stage_change": (
            both(pick("stage", "Qualified"), fill("days", "2")),
            fill("days", "3"),
            lambda c: c == {"stage": "Qualified", "days": 3},
        ),
    }


def saved_configs(workflow) -> list[tuple[str, dict]]:
    return [(a.action_type, a.config) for a in Workflow.objects.get(pk=workflow.pk).actions.order_by("sort_order")]


def test_every_action_type_added_edited_and_removed_and_a_webhook_secret_kept(crm, live_server):
    with Receiver() as receiver:
        receiver.set_response(status=202, body=b'{"queued": true}', headers={"Content-Type": "application/json"})
        table = forms(crm, receiver)
        types = sorted(step_types("workflow"), key=lambda t: t.label)
        assert {t.type for t in types} == set(table), "a new workflow action type needs a form here"
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

        def add(page) -> None:
            page.goto(f"/organizations/acme/workflows/{workflow.pk}")
            actions = page.locator("#actions")
            # Adding: every type from the menu gets its form, filled in, then all are saved.
            for number, step_type in enumerate(types, start=1):
                actions.locator('select[name="_new:actions"]').last.select_option(step_type.type)
                actions.locator('button[value="add_action:actions"]').click()
                added = actions.locator(f'[data-path="actions[{number}]"]')
                expect(added).to_have_attribute("data-type", step_type.type)
                expect(added.locator(".wf-config")).not_to_be_empty()
                table[step_type.type][0](added, f"actions[{number}].config.")
            page.get_by_role("button", name="Save as version 2").click()
            expect(page.locator(".message.success")).to_contain_text("Saved Hook (version 2)")

        in_browser(live_server, crm.world.admin, add)
        saved = saved_configs(workflow)
        assert [kind for kind, _ in saved] == ["webhook", *(t.type for t in types)]

        def edit(page) -> None:
            page.goto(f"/organizations/acme/workflows/{workflow.pk}")
            actions = page.locator("#actions")
            # Editing: a value changed in each type's form. The saved webhook's URL path changes with its
            # secret left masked, a header row is added in the page, and it is tried.
            for number, step_type in enumerate(types, start=1):
                action = actions.locator(f'[data-path="actions[{number}]"]')
                table[step_type.type][1](action, f"actions[{number}].config.")
            first = actions.locator('[data-path="actions[0]"]')
            expect(page.locator('input[name="actions[0].config.headers[0].value"]')).to_have_value("********")
            page.locator('input[name="actions[0].config.url"]').fill(receiver.url_for("/edited"))
            first.get_by_role("button", name="+ Add header").click()
            first.get_by_label("Header name").nth(1).fill("X-Team")
            first.get_by_label("Header value").nth(1).fill("sales")
            first.get_by_role("button", name="Send test request").click()
            result = actions.locator("#test-result")
            expect(result).to_contain_text("202")
            expect(result).to_contain_text('{"queued": true}')
            expect(result).not_to_contain_text("editor-secret")
            screenshot(page, "workflow-editor-test-request")
            page.get_by_role("button", name="Save as version 3").click()
            expect(page.locator(".message.success")).to_contain_text("Saved Hook (version 3)")

        in_browser(live_server, crm.world.admin, edit)
        tried = receiver.requests[0]
        assert tried.path == "/edited" and tried.headers["Authorization"] == SECRET
        assert tried.headers["X-Team"] == "sales"
        saved = saved_configs(workflow)
        for (kind, config), step_type in zip(saved[1:], types, strict=True):
            assert kind == step_type.type and table[kind][2](config), (kind, config)
        hook = saved[0][1]
        assert hook["url"] == receiver.url_for("/edited")
        assert SECRET in secret_values(hook["headers"]), "the masked secret kept its stored value"
        assert [h["name"] for h in hook["headers"]] == ["Authorization", "X-Team"]

        def remove(page) -> None:
            page.goto(f"/organizations/acme/workflows/{workflow.pk}")
            actions = page.locator("#actions")
            # Removing: every added action goes again.
            for remaining, step_type in zip(range(len(types), 0, -1), types, strict=True):
                page.get_by_role("button", name=f"Remove {step_type.label} (action 2)").click()
                expect(actions.locator(f'[data-path="actions[{remaining}]"]')).to_have_count(0)
            page.get_by_role("button", name="Save as version 4").click()
            expect(page.locator(".message.success")).to_contain_text("Saved Hook (version 4)")

        in_browser(live_server, crm.world.admin, remove)
    [(kind, hook)] = saved_configs(workflow)
    assert kind == "webhook" and SECRET in secret_values(hook["headers"])
