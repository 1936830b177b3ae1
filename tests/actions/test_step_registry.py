"""The step-type registry: every type declares its config serializer and summary, API validation
goes through the serializers, and a type added in one module reaches every editor, the API and the
engine with no other file touched."""

import copy
import importlib
import sys
from pathlib import Path

import pytest
from django.test import Client

from actions.engine import run_execute
from actions.models import StepRun
from actions.services import action_perform
from actions.steps.base import REGISTRY, StepConfigSerializer, config_serializers, step_summary, unregister
from flowsite.outbound import validate_call_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def throwaway_type(settings):
    # Its form partial lives beside the test, in a template directory of its own.
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], Path(__file__).parent / "templates"]
    settings.TEMPLATES = templates
    sys.modules.pop("tests.actions.throwaway_step", None)
    module = importlib.import_module("tests.actions.throwaway_step")
    yield module.Greet
    unregister(module.Greet)
    sys.modules.pop("tests.actions.throwaway_step", None)


def test_every_type_has_a_config_serializer_named_for_it():
    listed = dict(config_serializers())
    assert {names[0] for names in listed} == set(REGISTRY)
    for names, serializer in listed.items():
        assert issubclass(serializer, StepConfigSerializer)
        assert serializer.step_type is REGISTRY[names[0]]
        assert serializer.__name__.endswith("Config")
        # The declared fields are the config's shape in the OpenAPI document.
        if names[0] != "delete_task":
            assert serializer().fields, names
    assert "value" in REGISTRY["webhook"].config_serializer().fields["headers"].child.fields


def test_config_serializer_names_the_wrong_key():
    serializer = REGISTRY["api_call"].config_serializer(data={"url": "ftp://x", "method": "POST"})
    assert not serializer.is_valid()
    assert serializer.errors == {"url": ["must be an http:// or https:// URL"]}
    serializer = REGISTRY["api_call"].config_serializer(data={"url": "https://hooks.example.com/a"})
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {"url": "https://hooks.example.com/a", "method": "POST", "headers": []}


def test_api_validation_goes_through_the_serializer(api, seed):
    response = api(seed.world.admin).post(
        "/api/flows/acme/sales/actions",
        {"name": "Call", "steps": [{"type": "api_call", "config": {"url": "http://a b/"}}]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"steps[0].config.url": ["must not contain spaces or line breaks"]}


@pytest.mark.parametrize(
    "url,placeholders,reason",
    [
        ("", False, "is required"),
        ("ftp://example.com/", False, "must be an http:// or https:// URL"),
        ("https://example.com/a b", False, "must not contain spaces or line breaks"),
        ("https://example.com/\n", False, None),  # stripped
        ("https://[::1/x", False, "is not a valid URL"),
        ("https://{{trigger.Host}}/x", True, None),
        ("https://" + "a" * 2000, False, "must be at most 2000 characters"),
    ],
)
def test_validate_call_url_is_the_one_url_rule(url, placeholders, reason):
    if reason is None:
        assert validate_call_url(url, placeholders=placeholders) == url.strip()
    else:
        with pytest.raises(ValueError, match=reason):
            validate_call_url(url, placeholders=placeholders)


def test_call_summary_shows_the_whole_host_and_path():
    config = {
        "url": "http://127.0.0.1:8123/hooks/deals/new?token=x",
        "method": "POST",
        "headers": [{"name": "X-A", "value": "1"}],
    }
    assert step_summary("api_call", config) == "POST 127.0.0.1:8123/hooks/deals/new · 1 header"
    assert step_summary("webhook", {**config, "method": "PUT", "headers": []}) == "PUT 127.0.0.1:8123/hooks/deals/new"
    assert step_summary("no_such_type", {}) == ""


def test_a_type_added_in_one_module_reaches_editors_api_and_engine(throwaway_type, seed, api):
    # The API's schema source and its validation.
    assert (("throwaway_greet",), throwaway_type.config_serializer) in config_serializers()
    response = api(seed.world.admin).post(
        "/api/flows/acme/sales/actions",
        {"name": "Greet", "from_stages": ["In Progress"], "steps": [{"type": "throwaway_greet", "config": {}}]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"steps[0].config.greeting": ["say something"]}
    # The engine.
    action = seed.action("Greet", [{"type": "throwaway_greet", "config": {"greeting": " hello "}}])
    run = run_execute(action_perform(action=action, task=seed.task, actor=seed.world.admin).pk)
    assert run.status == "success"
    assert StepRun.objects.get(run=run).output == {"said": "hello"}
    assert step_summary("throwaway_greet", action.steps.get().config) == "Say hello"
    # The builder's (with an action selected) "+ New Step" menu.
    client = Client()
    client.force_login(seed.world.admin)
    page = client.get("/flows/acme/sales/builder").content.decode()
    assert 'data-step-type="throwaway_greet"' in page and "Throwaway greeting" in page
    # The workflow editor's action menu.
    page = client.get("/organizations/acme/workflows/new").content.decode()
    assert '<option value="throwaway_greet">Throwaway greeting</option>' in page

    # Its form partial, in the builder's step modal: new, then a saved step's, then applied.
    hx = {"HTTP_HX_REQUEST": "true"}
    client.get("/flows/acme/sales/builder")
    modal = client.get(f"/flows/acme/sales/builder/actions/a{action.pk}/steps/new/throwaway_greet", **hx)
    assert "data-throwaway-greeting" in modal.content.decode() and 'name="config.greeting"' in modal.content.decode()
    step_key = f"s{action.steps.get().pk}"
    modal = client.get(f"/flows/acme/sales/builder/actions/a{action.pk}/steps/{step_key}", **hx).content.decode()
    assert 'name="config.greeting" value="hello"' in modal
    apply = f"/flows/acme/sales/builder/actions/a{action.pk}/steps/apply"
    refused = client.post(apply, {"type": "throwaway_greet", "step_key": step_key, "config.greeting": " "}, **hx)
    assert 'data-error-for="config.greeting"' in refused.content.decode()
    client.post(apply, {"type": "throwaway_greet", "step_key": step_key, "config.greeting": "hi"}, **hx)
    client.post("/flows/acme/sales/builder/save", **hx)
    assert action.steps.get().config == {"greeting": "hi"}

    # And in the workflow editor's action form: added from the menu, then saved and read back.
    editor = "/organizations/acme/workflows/new"
    form = {"name": "Greet", "triggerModule": "leads", "triggerType": "lead_created", "isActive:bool": "0"}
    added = client.post(editor, {**form, "_new:actions": "throwaway_greet", "op": "add_action:actions"}, **hx)
    assert "data-throwaway-greeting" in added.content.decode()
    assert 'name="actions[0].config.greeting"' in added.content.decode()
    action_form = {**form, "actions[0].actionType": "throwaway_greet"}
    refused = client.post(editor, {**action_form, "actions[0].config.greeting": ""})
    assert refused.status_code == 422 and "say something" in refused.content.decode()
    saved = client.post(editor, {**action_form, "actions[0].config.greeting": "howdy"})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    page = client.get(saved["Location"]).content.decode()
    assert 'name="actions[0].config.greeting" value="howdy"' in page
