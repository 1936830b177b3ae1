"""Every page says where you are in its title and links Flowsite's icon; /favicon.ico is served for
pages that link none; sign-up and the new organization / flow forms use the site's form style."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tasks.services import task_create

pytestmark = pytest.mark.django_db


def title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


def test_every_page_has_a_title_that_says_where_you_are_and_the_icon(world):
    task = task_create(flow=world.flow, actor=world.admin, data={})
    client = Client()
    assert title(client.get("/login").content.decode()) == "Log in · Flowsite"
    assert title(client.get("/signup").content.decode()) == "Sign up · Flowsite"
    client.force_login(world.admin)
    pages = {
        "/": "Home · Flowsite",
        "/settings": "Your account · Flowsite",
        "/notifications": "Notifications · Flowsite",
        "/organizations/new": "New organization · Flowsite",
        "/flows/acme/new": "New flow · Acme · Flowsite",
        "/flows/acme/sales": "Sales · Flowsite",
        "/flows/acme/sales/settings": "Settings · Sales · Flowsite",
        "/flows/acme/sales/schema": "Schema · Sales · Flowsite",
        f"/flows/acme/sales/tasks/{task.pk}": f"Task #{task.pk} · Sales · Flowsite",
        "/flows/acme/sales/runs": "Action runs · Sales · Flowsite",
        f"/flows/acme/sales/tasks/{task.pk}/runs": f"Action runs of task #{task.pk} · Sales · Flowsite",
        "/flows/acme/sales/builder": "Flow Builder · Sales · Flowsite",
        "/organizations/acme/workflows": "Workflows · Acme · Flowsite",
        "/organizations/acme/workflows/new": "New workflow · Workflows · Flowsite",
    }
    for url, expected in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert title(html) == expected, url
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html, url


def test_the_favicon_is_served(client):
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and b"<svg" in b"".join(icon.streaming_content)
    redirect = client.get("/favicon.ico")
    assert redirect.status_code == 301 and redirect["Location"] == "/static/favicon.svg"


def test_the_admin_says_flowsite_and_links_the_icon(world):
    staff = get_user_model().objects.create_superuser(email="ops@example.com", password="x-very-secret-1")
    client = Client()
    client.force_login(staff)
    html = client.get("/admin/").content.decode()
    assert title(html) == "Site administration | Flowsite admin"
    assert "Flowsite administration" in html and 'href="/static/favicon.svg"' in html


@pytest.mark.parametrize("url", ["/signup", "/organizations/new", "/flows/acme/new"])
def test_forms_use_the_site_style_without_colons(world, url):
    client = Client()
    if url != "/signup":
        client.force_login(world.admin)
    html = client.get(url).content.decode()
    labels = re.findall(r"<label[^>]*>(.*?)</label>", html, re.S)
    assert labels and not [label for label in labels if label.strip().endswith(":")]
    assert 'class="form-field' in html
    assert "<div>\n    <label" not in html  # not Django's as_div


def test_signup_errors_show_under_the_field(db):
    html = Client().post("/signup", {"email": "nope", "password": "x"}).content.decode()
    email = html.split('data-field="email"', 1)[1].split('data-field="first_name"', 1)[0]
    assert "Enter a valid email address." in email
    assert 'class="form-field has-error" data-field="email"' in html
