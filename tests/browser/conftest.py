"""End-to-end tests in headless Chromium (Debian's /usr/bin/chromium; Playwright never downloads one).

Without Chromium they are skipped with a reason, unless REQUIRE_BROWSER=1 (CI), where that fails.
Screenshots land in test-artifacts/screenshots/; the folder is printed at the end of the run.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.actions.conftest import receiver, seed  # noqa: F401  (the seed's flow and loopback receivers)

# Playwright's sync API runs an event loop in this thread; Django would refuse ORM calls made
# from the test body beside it, although they are as synchronous as ever.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
_taken: list[Path] = []


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def pytest_terminal_summary(terminalreporter):
    if _taken:
        terminalreporter.write_sep("-", "browser screenshots")
        terminalreporter.write_line(f"{len(_taken)} screenshot(s) in {SCREENSHOTS.resolve()}")


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        reason = f"Browser tests need Chromium at {CHROMIUM} (Debian's `chromium` package); none found."
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " REQUIRE_BROWSER=1, so this is a failure, not a skip.")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def watch_csp(page) -> list[str]:
    """Every Content-Security-Policy violation the page reports, from any document it loads."""
    violations: list[str] = []
    # Chromium logs most violations to the console itself; the event catches every one, with its directive.
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    page.on("console", lambda msg: "Content Security Policy" in msg.text and violations.append(msg.text))
    return violations


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    page.csp_violations = watch_csp(page)
    yield page
    context.close()
    # Every browser test also proves its pages work under the Content-Security-Policy.
    assert page.csp_violations == []


@pytest.fixture
def login(page, live_server):
    """Log a person in by handing the browser a session made by Django's test client."""

    def log_in(user) -> None:
        from django.test import Client

        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
        )

    return log_in


def screenshot(page, name: str, *, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    _taken.append(path)
    return path
