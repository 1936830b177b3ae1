"""/api/docs in a real browser: the operations show their bodies, and the three ways to send a token."""

import re

from playwright.sync_api import expect


def test_the_docs_show_request_and_response_bodies_and_three_auth_schemes(seed, page, login):
    login(seed.world.admin)
    page.goto("/api/docs")
    create_task = page.locator(".opblock-post").filter(
        has=page.locator(".opblock-summary-path", has_text=re.compile(r"^/api/flows/\{org\}/\{flow\}/tasks$"))
    )
    create_task.locator(".opblock-summary").click()
    expect(create_task.get_by_text("Request body")).to_be_visible()
    expect(create_task.locator(".responses-table .response[data-code='201']")).to_be_visible()
    expect(create_task.locator(".responses-table .response[data-code='422']")).to_be_visible()
    # The example body the page builds from the declared schema names the task's built-ins.
    expect(create_task.locator(".response[data-code='201'] .microlight").first).to_contain_text("Task URL")
    page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".dialog-ux")
    for scheme in ("bearerAuth", "tokenAuth", "basicAuth"):
        expect(dialog.get_by_text(scheme, exact=False).first).to_be_visible()
    assert page.js_errors == []
    assert page.csp_violations == []
