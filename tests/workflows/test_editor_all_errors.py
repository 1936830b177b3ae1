"""The workflow editor (and the Workflows API under it) reports every validation error after one
submit, not one group per submit."""

import re

import pytest
from django.test import Client

from tests.workflows.crm import crm  # noqa: F401  (overrides the conftest fixture)
from tests.workflows.test_api import body
from tests.workflows.test_pages import base_form, block
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


def summary(html: str) -> list[str]:
    box = re.search(r'id="error-summary">(.*?)</div>', html, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", item).strip() for item in re.findall(r"<li>(.*?)</li>", box, re.S)]


def test_every_group_of_errors_is_shown_after_one_submit(crm):
    client = Client()
    client.force_login(crm.world.admin)
    form = base_form(
        name="",
        **{
            "triggerFilters.conditions[0].field": "Source",
            "triggerFilters.conditions[0].operator": "sounds_like",
            "triggerFilters.conditions[0].value": "web",
            "actions[0].actionType": "webhook",
            "actions[0].config.url": "",
            "actions[0].config.method": "POST",
            "actions[1].actionType": "webhook",
            "actions[1].config.url": "https://hooks.example.com/x",
            "actions[1].config.method": "POST",
            "actions[1].config.body": "{not json",
            "actions[2].actionType": "wait",
            "actions[2].config.duration": "-4",
            "actions[2].config.unit": "minutes",
        },
    )
    response = client.post("/organizations/acme/workflows/new", form)
    assert response.status_code == 422
    html = response.content.decode()
    errors = summary(html)
    assert len(errors) == 5, errors
    # The name, the filter, both webhooks (a missing URL and a body that is not JSON) and the wait.
    assert re.search(r'name="name"[^>]*aria-invalid="true"', html)
    assert "unknown operator &quot;sounds_like&quot;" in block(html, "triggerFilters.conditions[0]")
    assert "is required" in block(html, "actions[0]")
    assert "JSON" in block(html, "actions[1]")
    assert block(html, "actions[2]").count('class="errorlist"') == 1
    assert not Workflow.objects.exists()


def test_the_api_answers_every_error_at_once(crm, api):
    payload = body(
        name="",
        triggerFilters={"logic": "AND", "conditions": [{"field": "source", "operator": "sounds_like", "value": "x"}]},
        actions=[
            {"actionType": "webhook", "config": {"url": ""}},
            {"actionType": "teleport", "config": {}},
            {"actionType": "update_data", "config": {"values": {"Score": "10"}}},
        ],
    )
    response = api(crm.world.admin).post("/api/workflows", payload, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {
        "name",
        "triggerFilters.conditions[0].operator",
        "actions[0].config.url",
        "actions[1].actionType",
    }, errors
