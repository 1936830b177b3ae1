"""Security headers and deployment settings: the Content-Security-Policy on every page, and the
HTTPS settings an operator turns on from the environment (`manage.py check --deploy`)."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db

PRODUCTION_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "flowsite.example.com",
    "SECURE_SSL_REDIRECT": "1",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
}


def _manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", *PRODUCTION_ENV}}
    clean.update({"SECRET_KEY": secrets.token_urlsafe(50), **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args], env=clean, capture_output=True, text=True, cwd=settings.BASE_DIR
    )


def test_check_deploy_has_no_security_warning_with_the_production_settings():
    result = _manage("check", "--deploy", env=PRODUCTION_ENV)
    output = result.stdout + result.stderr
    assert "System check identified" in output, output
    assert re.findall(r"security\.[WE]\d+", output) == [], output


def test_check_deploy_names_each_setting_left_off():
    """The same check without the environment: proves the test above runs the real security checks."""
    result = _manage("check", "--deploy", env={"DEBUG": "0", "ALLOWED_HOSTS": "flowsite.example.com"})
    found = set(re.findall(r"security\.W\d+", result.stdout + result.stderr))
    # HSTS, SSL redirect, session cookie, CSRF cookie.
    assert {"security.W004", "security.W008", "security.W012", "security.W016"} <= found


def test_the_proxy_header_and_hsts_come_from_the_environment():
    code = (
        "import flowsite.settings as s; print(s.SECURE_PROXY_SSL_HEADER, s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({**PRODUCTION_ENV, "SECRET_KEY": "x", "SECURE_PROXY_SSL_HEADER": "HTTP_X_SCHEME, on"})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=settings.BASE_DIR)
    assert out.stdout.strip() == "('HTTP_X_SCHEME', 'on') 31536000 True", out.stderr


def test_behind_the_proxy_https_requests_get_hsts_and_http_ones_a_redirect(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()
    plain = client.get("/login")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    secure = client.get("/login", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200 and secure["Strict-Transport-Security"].startswith("max-age=31536000")


# --- Content-Security-Policy ----------------------------------------------------------------------


def _nonce(policy: str) -> str:
    [nonce] = set(re.findall(r"'nonce-([\w-]+)'", policy))
    return nonce


@pytest.mark.parametrize("path", ["/login", "/", "/flows/acme/sales", "/api/docs", "/admin/login/", "/api/flows"])
def test_every_response_has_the_policy_with_a_fresh_nonce(world, path):
    client = Client()
    client.force_login(world.admin)
    first, second = client.get(path), client.get(path)
    assert first.status_code in (200, 302)
    policy = first["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self' 'nonce-" in policy
    assert "'unsafe-inline'" not in policy.split("style-src-attr")[0]  # only style attributes are inline
    assert "'unsafe-eval'" not in policy and "frame-ancestors 'none'" in policy
    assert _nonce(policy) != _nonce(second["Content-Security-Policy"])
    html = first.content.decode()
    # Any inline <script>/<style> the page has carries this response's nonce.
    for tag in re.findall(r"<(?:script|style)\b[^>]*>", html):
        assert "src=" in tag or f'nonce="{_nonce(policy)}"' in tag, tag


TEMPLATES = sorted(Path(settings.BASE_DIR, "templates").rglob("*.html"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(settings.BASE_DIR)))
def test_templates_have_no_inline_script_or_event_handlers(template):
    """What the policy would refuse in a browser: inline <script> without a nonce, on*= handlers, hx-on."""
    text = template.read_text()
    for tag in re.findall(r"<script\b[^>]*>", text):
        assert "src=" in tag or "nonce=" in tag, tag
    for tag in re.findall(r"<style\b[^>]*>", text):
        assert "nonce=" in tag, tag
    assert not re.search(r"\son[a-z]+\s*=", text), "an inline event handler"
    assert not re.search(r"\shx-on[:-]", text), "hx-on runs attribute code through eval"
