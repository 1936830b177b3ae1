"""Hostile input at every API door: a clear 4xx in the door's own error shape, never a 500, nothing stored.

The endpoints are enumerated from the URLconf, so a new API endpoint is covered (or fails here until
it has a sample body) without anyone remembering to add it.
"""

import copy
import json
import re

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from actions.models import Run
from actions.services import action_create
from flows.models import Field, Stage
from tasks.api import TaskApiView
from tests.factories import UserFactory, make_task
from workflows.dispatch import program_for
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
        Field.objects.create(flow=flow, name="Count", type="number", position=51)
        Field.objects.create(flow=flow, name="Due", type="date", position=52)
        Field.objects.create(flow=flow, name="Price", type="currency", position=53)
        self.task = make_task(flow, world.admin, {"Notes": "hello"})
        UserFactory(email="newcomer@example.com")
        self.action = action_create(
            flow=flow,
            actor=world.admin,
            data={"name": "Go", "steps": [{"type": "update_data", "config": {"values": {"Notes": "go"}}}]},
        )
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
            program=program_for(self.workflow),  # a run that started and failed: retryable
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
    if name == "executions":
        assert data["status"] == "Fail" and data["errors"] and isinstance(data["errors"], list), data
    elif response.status_code in (401, 403, 404, 405):
        assert set(data) == {"message"}, data  # every API's answer when there is nothing to validate
    elif issubclass(view, TaskApiView):
        assert set(data) == {"errors"} and isinstance(data["errors"], dict) and data["errors"], data
    else:
        assert "message" in data, data
        if response.status_code in (400, 413):
            assert data["message"] == "Validation error" and isinstance(data["errors"], dict) and data["errors"]


def _send(door: Door, name: str, method: str, body: str | bytes, **override):
    return getattr(door.admin, method)(door.path(name, **override), body, content_type="application/json")


DEEP = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
SURROGATE = '{"name": "\\ud800", "body": "\\udfff", "Notes": "a\\ud800b"}'
# PostgreSQL refuses NUL in text and jsonb: a 500 there, stored on SQLite; refused by the parser on both.
NUL = '{"name": "a\\u0000b", "body": "\\u0000", "Notes": "a\\u0000b", "isActive": true}'


@pytest.mark.parametrize("name,method", WRITES)
@pytest.mark.parametrize("body", [DEEP, SURROGATE, NUL, '{"name": NaN}'], ids=["deep", "surrogate", "nul", "nan"])
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
    keys = ("page", "limit", "id", "sortOrder", "assignee", "stage", "organization", "Count", "Price", "Due")
    params = dict.fromkeys(keys, HUGE_TEXT)
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


# --- a wrong JSON type for any key of any write ------------------------------------------------

# A valid body for every write: each key in turn gets each wrong type. A new write endpoint fails
# test_every_write_has_a_sample_body until it has one here.
SAMPLES = {
    ("organizations", "post"): {"name": "Beta"},
    ("organization", "put"): {"name": "Acme 2"},
    ("organization_users", "post"): {"email": "newcomer@example.com", "admin": False},
    ("organization_user", "delete"): {},
    ("user", "put"): {"nick": "ada2", "email": "ada2@example.com", "first_name": "A", "last_name": "B", "status": "x"},
    ("flow_create", "post"): {"name": "Ops", "access_mode": "invitation", "module": "tasks"},
    ("flow", "put"): {"name": "Sales 2", "open": True, "disabled": False, "access_mode": "organization"},
    ("flow_users", "post"): {"id": "member"},
    ("flow_user", "put"): {"disabled": False, "can_edit": True},
    ("flow_stages", "post"): {"name": "Review", "color": "#16a34a", "position": 3, "end_stage": False},
    ("flow_stage", "put"): {"name": "Doing 2", "color": "#16a34a", "position": 1, "end_stage": True, "outcome": "won"},
    ("flow_stage", "delete"): {"move_to": "other_stage"},
    ("flow_fields", "post"): {
        "name": "Kind",
        "type": "singleSelect",
        "options": ["a", "b"],
        "required": False,
        "position": 2,
    },
    ("flow_field", "put"): {"name": "Notes 2", "required": True, "editable": True, "unique": False, "position": 1},
    ("flow_field", "delete"): {"confirm": True},
    ("flow_tasks", "post"): {
        "Notes": "new",
        "Count": "5",
        "Due": "2020-01-31",
        "Price": "10.50",
        "Stage": "Doing",
        "Assigned To": "admin@example.com",
        "Tags": ["a"],
    },
    ("flow_task", "put"): {"Notes": "changed", "Stage": "Doing", "Assigned To": "admin@example.com"},
    ("flow_task", "patch"): {"Notes": "changed", "Stage": "Doing"},
    ("flow_task", "delete"): {},
    ("flow_task_comments", "post"): {"body": "hello @ada"},
    ("actions", "post"): {
        "name": "Finish",
        "color": "#16a34a",
        "from_stages": ["Doing"],
        "navigate": "board",
        "steps": [{"type": "move_to_stage", "config": {"stage": "Doing"}}],
    },
    ("action", "put"): {"name": "Go 2", "steps": [{"type": "update_data", "config": {"values": {"Notes": "x"}}}]},
    ("action", "delete"): {},
    ("executions", "post"): {"task_id": "task", "action_id": "action", "performed_by": "admin@example.com"},
    ("workflows", "post"): {
        "name": "Tag 2",
        "description": "d",
        "organization": "acme",
        "triggerModule": "tasks",
        "triggerType": "task_created",
        "triggerFilters": {"logic": "AND", "conditions": []},
        "isActive": True,
        "actions": [{"actionType": "add_tag", "config": {"tag": "x"}, "sortOrder": 1}],
    },
    ("workflow_run_retry", "post"): {},
    ("workflow", "put"): {
        "name": "Tag 3",
        "triggerModule": "tasks",
        "triggerType": "task_created",
        "isActive": False,
        "actions": [{"actionType": "add_tag", "config": {"tag": "y"}, "sortOrder": 2}],
    },
    ("workflow", "delete"): {},
    ("workflow_toggle", "patch"): {"isActive": False},
}
WRONG = [{}, [], None, 1, -1, 2**31, 2**63, HUGE, -HUGE, 1.5, True, "", "x" * 10_000, [{}], {"a": {}}]


def test_every_write_has_a_sample_body():
    assert sorted(SAMPLES) == sorted(WRITES)


def _sample(door: Door, name: str, method: str) -> dict:
    refs = {
        "member": door.world.member.pk,
        "other_stage": door.world.flow.stages.exclude(pk=door.stage.pk).first().pk,
        "task": door.task.pk,
        "action": door.action.pk,
    }
    body = copy.deepcopy(SAMPLES[name, method])
    return {k: refs.get(v, v) if isinstance(v, str) else v for k, v in body.items()}


def _write_path(door: Door, name: str) -> str:
    # Memberships are changed on someone else; a profile only by its owner (the admin).
    if name in ("organization_user", "flow_user"):
        return door.path(name, user_id=door.world.flow_member.pk)
    return door.path(name)


def _key_paths(value, prefix=()):
    """Every key and list index in a sample body, nested ones too: ("steps", 0, "config", "stage")."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield (*prefix, key)
        yield from _key_paths(item, (*prefix, key))


def _set(body, path: tuple, value):
    if not path:
        return value
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


FUZZ = [(name, method, path) for (name, method), body in SAMPLES.items() for path in [(), *_key_paths(body)]]


@pytest.mark.parametrize(
    "name,method,path", FUZZ, ids=[f"{n}-{m}-{'.'.join(map(str, p)) or 'body'}" for n, m, p in FUZZ]
)
def test_a_wrong_type_anywhere_in_a_write_is_a_4xx_and_stores_nothing(door, name, method, path):
    """dict, list, null, numbers (64-bit and beyond), booleans and long text where something else is
    expected, at any depth of the body: either accepted as valid, or refused in the door's error shape
    with nothing stored."""
    for wrong in WRONG:
        body = _set(_sample(door, name, method), path, wrong)
        before = snapshot()
        response = getattr(door.admin, method)(_write_path(door, name), body, format="json")
        assert response.status_code < 500, (name, method, path, wrong, response.content[:300])
        if response.status_code >= 400:
            assert_error_shape(name, response)
            assert snapshot() == before, (name, method, path, wrong)


@pytest.mark.parametrize("name,method", list(SAMPLES))
def test_the_sample_bodies_are_valid(door, name, method):
    """So the wrong types above are the only thing wrong with what they send."""
    response = getattr(door.admin, method)(_write_path(door, name), _sample(door, name, method), format="json")
    assert response.status_code < 300, (name, method, response.content[:300])


# --- the cases the issues named, spelled out --------------------------------------------------------


@pytest.mark.parametrize("body", ["[]", '"x"', "1", "null", "true"])
def test_toggle_refuses_a_body_that_is_not_an_object(door, body):
    response = door.admin.patch(door.path("workflow_toggle"), body, content_type="application/json")
    assert response.status_code == 400 and response.json()["errors"] == {"body": ["Expected a JSON object."]}
    assert Workflow.objects.get(pk=door.workflow.pk).is_active is True


def test_toggle_with_no_body_or_an_object_still_works(door):
    assert door.admin.patch(door.path("workflow_toggle")).json()["isActive"] is False
    assert door.admin.patch(door.path("workflow_toggle"), {}, format="json").json()["isActive"] is True
    response = door.admin.patch(door.path("workflow_toggle"), {"isActive": False}, format="json")
    assert response.json()["isActive"] is False


@pytest.mark.parametrize("method", ["post", "put"])
def test_trigger_module_of_the_wrong_type_is_a_400(door, method):
    name = "workflows" if method == "post" else "workflow"
    for wrong in ({}, [], 1):
        body = {**_sample(door, name, method), "triggerModule": wrong}
        response = getattr(door.admin, method)(door.path(name), body, format="json")
        assert response.status_code == 400 and "triggerModule" in response.json()["errors"]


@pytest.mark.parametrize("key", ["first_name", "last_name"])
def test_a_null_name_is_a_400_not_an_integrity_error(door, key):
    response = door.admin.put(door.path("user"), {key: None}, format="json")
    assert response.status_code == 400 and key in response.json()["errors"]
    assert door.admin.put(door.path("user"), {"status": None}, format="json").status_code == 200  # nullable


def test_huge_ids_in_bodies_are_refused_as_bad_input(door):
    response = door.admin.post(door.path("flow_users"), {"id": HUGE}, format="json")
    assert response.status_code == 400 and response.json()["errors"] == {"id": ["Must be a user id."]}
    response = door.admin.post(door.path("executions"), {"task_id": HUGE, "action_id": door.action.pk}, format="json")
    assert response.status_code == 404 and response.json()["status"] == "Fail"
    assert door.admin.get("/api/organizations/find", {"id": HUGE_TEXT}).status_code == 404
    assert door.admin.get("/api/flows/find", {"id": HUGE_TEXT}).status_code == 404


def test_a_nul_in_a_query_is_refused_not_a_database_error(door):
    """PostgreSQL text cannot hold a NUL: a filter or an id with one is bad input, on every database."""
    response = door.admin.get(door.path("flow_tasks"), {"Notes": "a\x00b"})
    assert response.status_code == 422 and set(response.json()) == {"errors"}
    response = door.admin.get("/api/flows/find", {"id": "a\x00"})
    assert response.status_code == 400 and response.json()["message"] == "Validation error"
