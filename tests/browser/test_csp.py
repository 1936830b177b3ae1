"""The Content-Security-Policy in a real browser: pages keep working, nothing is refused."""

from playwright.sync_api import expect


def test_pages_with_htmx_and_the_copy_button_work_under_the_policy(seed, page, login):
    login(seed.world.admin)
    response = page.goto("/flows/acme/sales")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "'unsafe-eval'" not in policy
    # htmx is running, its indicator style went in with the nonce, and it evaluates no attribute code.
    assert page.evaluate("typeof htmx") == "object"
    assert page.evaluate("[...document.querySelectorAll('style')].some(s => s.textContent.includes('htmx-indicator'))")
    assert page.evaluate("htmx.config.allowEval") is False
    page.goto(f"/flows/acme/sales/tasks/{seed.task.pk}")
    expect(page.get_by_text("Acme Corp").first).to_be_visible()
    seed.flow.access_mode = "link"
    seed.flow.save(update_fields=["access_mode"])
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/flows/acme/sales/settings")
    page.get_by_role("button", name="Copy").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#join-url").input_value() and copied
    assert page.js_errors == []
    assert page.csp_violations == []


def test_inline_script_is_refused(seed, page, login):
    """The policy is really enforced: a script injected without the nonce does not run."""
    login(seed.world.admin)
    page.goto("/flows/acme/sales")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = true';"
        " document.body.appendChild(s); }"
    )
    assert page.evaluate("window.__ran === undefined")
    assert any("script-src" in v for v in page.csp_violations)
    page.csp_violations.clear()  # the one violation this test caused on purpose


def test_the_api_docs_load_under_the_policy(seed, page, login):
    login(seed.world.admin)
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Flowsite API")
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.js_errors == []
    assert page.csp_violations == []
