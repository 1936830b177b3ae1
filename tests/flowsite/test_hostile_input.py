"""Hostile input at every API door: a clear 4xx in the door's own error shape, never a 500, nothing stored.

The endpoints are enumerated from the URLconf, so a new API endpoint is covered (or fails here until
it has a sample body) without anyone remembering to add it.
"""

import json
import re

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from actions.models import Run
from actions.services import action_create
from flows.models import Field, Stage
from tasks.api import TaskApiView
from tests.factories import make_task
from workflows.models import Workflow

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")
HUGE = 10**30
HUGE_TEXT = "99999999999999999999"


def _api_routes():
    """(route, url name, view class) for every API endpoint, routes as written in the URLconf."""
    [api] = [p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and p.namespace == "api"]
    out = []

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and hasattr(p.callback, "view_class"):
                out.append(("api/" + prefix + str(p.pattern), p.name, p.callback.view_class))

    walk(api.url_patterns, "")
    return out


ROUTES = _api_routes()
WRITES = [(name, method) for _, name, view in ROUTES for method in WRITE_METHODS if hasattr(view, method)]
READS = [name for _, name, view in ROUTES if hasattr(view, "get")]
VIEWS = {name: (route, view) for route, name, view in ROUTES}


class Door:
    """The world plus one of everything an API path can name, and the path of each endpoint."""

    def __init__(self, world, api):
        self.world = world
        self.admin = api(world.admin)
        flow = world.flow
        self.stage = Stage.objects.create(flow=flow, name="Doing", position=50)
        self.field = Field.objects.create(flow=flow, name="Notes", type="text", position=50)
        self.task = make_task(flow, world.admin, {"Notes": "hello"})
        self.action = action_create(flow=flow, actor=world.admin, data={"name": "Go", "steps": []})
        response = self.admin.post(
            "/api/workflows",
            {
                "name": "Tag",
                "organization": "acme",
                "triggerModule": "tasks",
                "triggerType": "task_created",
                "actions": [{"actionType": "add_tag", "config": {"tag": "x"}, "sortOrder": 1}],
            },
            format="json",
        )
        assert response.status_code == 201, response.json()
        self.workflow = Workflow.objects.get(pk=response.json()["id"])
        self.run = Run.objects.create(
            kind=Run.Kind.WORKFLOW,
            flow=flow,
            task=self.task,
            task_ref=self.task.pk,
            workflow=self.workflow,
            name="Tag",
            status=Run.Status.FAIL,
        )
        self.values = {
            "org": world.org.parameterized_name,
            "flow": flow.parameterized_name,
            "user_id": world.admin.pk,
            "stage_id": self.stage.pk,
            "field_id": self.field.pk,
            "key": self.task.pk,
            "action_id": self.action.pk,
            "run_id": self.run.pk,
            "workflow_id": self.workflow.pk,
        }

    def path(self, name: str, **override) -> str:
        route, _ = VIEWS[name]
        values = {**self.values, **override}
        # A converter no value is known for fails here: add the new kind of id to `values`.
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route)


@pytest.fixture
def door(world, api):
    return Door(world, api)


def snapshot() -> dict:
    """Every row of every table, to prove a refused request stored nothing."""
    return {
        model._meta.label: sorted(map(repr, model.objects.order_by("pk").values_list()))
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }


def assert_error_shape(name: str, response, status: int | None = None) -> None:
    """The error answer of the API the endpoint belongs to."""
    assert response.status_code < 500, (name, response.status_code, response.content[:300])
    assert 400 <= response.status_code < 500, (name, response.status_code, response.content[:300])
    if status is not None:
        assert response.status_code == status, (name, response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), (name, response["Content-Type"])
    data = response.json()
    _, view = VIEWS[name]
    if issubclass(view, TaskApiView):
        assert set(data) == {"errors"} and isinstance(data["errors"], dict) and data["errors"], data
    elif name == "executions":
        assert data["status"] == "Fail" and data["errors"] and isinstance(data["errors"], list), data
    else:
        assert "message" in data, data
        if response.status_code in (400, 413):
            assert data["message"] == "Validation error" and isinstance(data["errors"], dict) and data["errors"]


def _send(door: Door, name: str, method: str, body: str | bytes, **override):
    return getattr(door.admin, method)(door.path(name, **override), body, content_type="application/json")


DEEP = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
SURROGATE = '{"name": "\\ud800", "body": "\\udfff", "Notes": "a\\ud800b"}'


@pytest.mark.parametrize("name,method", WRITES)
@pytest.mark.parametrize("body", [DEEP, SURROGATE, '{"name": NaN}'], ids=["deep", "surrogate", "nan"])
def test_every_json_write_refuses_hostile_json_and_stores_nothing(door, name, method, body):
    before = snapshot()
    response = _send(door, name, method, body)
    assert_error_shape(name, response)
    assert snapshot() == before


@pytest.mark.parametrize("name,method", WRITES)
def test_every_json_write_answers_an_oversized_body_with_413_json(door, name, method, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    before = snapshot()
    response = _send(door, name, method, json.dumps({"name": "x" * 20_000}))
    assert_error_shape(name, response, 413)
    assert snapshot() == before


def test_paired_surrogates_are_text_not_hostile(door):
    """An emoji written as a JSON surrogate pair is one character, and is stored."""
    response = _send(door, "flow_tasks", "post", '{"Notes": "\\ud83d\\ude00"}')
    assert response.status_code == 201, response.json()
    assert response.json()["Notes"] == "\U0001f600"


@pytest.mark.parametrize("name", READS)
def test_every_read_refuses_huge_integers_in_query_parameters(door, name):
    params = {key: HUGE_TEXT for key in ("page", "limit", "id", "sortOrder", "assignee", "stage", "organization")}
    response = door.admin.get(door.path(name), params)
    assert response.status_code < 500, (name, response.content[:300])
    if response.status_code >= 400:
        assert_error_shape(name, response)


PAGED = [(name, param) for name in ("flow_tasks", "flow_tasks_active", "workflow_runs") for param in ("page", "limit")]


@pytest.mark.parametrize("name,param", PAGED)
@pytest.mark.parametrize("value", [HUGE_TEXT, "-" + HUGE_TEXT, "1e3", "0"])
def test_paging_parameters_are_bounded(door, name, param, value):
    response = door.admin.get(door.path(name), {param: value})
    assert_error_shape(name, response)
    assert param in response.json()["errors"]


ID_PATHS = sorted(name for route, name, _ in ROUTES if set(re.findall(r"<(?:\w+:)?(\w+)>", route)) - {"org", "flow"})


@pytest.mark.parametrize("name", ID_PATHS)
def test_every_id_in_a_path_is_bounded(door, name):
    route, view = VIEWS[name]
    ids = set(re.findall(r"<(?:\w+:)?(\w+)>", route)) - {"org", "flow"}
    method = "get" if hasattr(view, "get") else next(m for m in WRITE_METHODS if hasattr(view, m))
    before = snapshot()
    response = getattr(door.admin, method)(door.path(name, **dict.fromkeys(ids, HUGE_TEXT)), {}, format="json")
    assert response.status_code == 404, (name, response.status_code, response.content[:300])
    assert snapshot() == before
