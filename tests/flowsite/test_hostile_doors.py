"""The doors besides the API: answers the engine reads back, the HTMX forms that carry JSON, and text
stored before the parser refused lone surrogates."""

import re
from urllib.parse import urlencode

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from actions.engine import run_execute
from actions.models import Run, Step
from actions.services import action_perform
from flowsite import jsonsafe
from tasks.models import Notification, Task
from tests.actions.conftest import SeedFlow
from tests.flowsite.test_hostile_input import DEEP, door, snapshot  # noqa: F401  (door: a fixture)
from tests.receivers import Receiver
from workflows.models import Workflow

pytestmark = pytest.mark.django_db

SURROGATE_ANSWER = '{"task": {"Company Name": "Evil \\ud800 Corp"}}'
DEEP_ANSWER = '{"task": {"Company Name": ' + "[" * 100_000 + "]" * 100_000 + "}}"


@pytest.fixture
def seed(world, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    return SeedFlow(world)


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the parser itself ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,reason",
    [
        ("[" * 65 + "]" * 65, "nested more than 64"),
        ('{"a": ' * 65 + "1" + "}" * 65, "nested more than 64"),
        ('"\\ud800"', "lone surrogates"),
        ('{"\\udc00": 1}', "lone surrogates"),
        ('["\\ud83d"]', "lone surrogates"),
        ("NaN", "NaN is not"),
        ('{"a": -Infinity}', "-Infinity is not"),
        (b"\xff", "UTF-8"),
    ],
)
def test_loads_refuses_hostile_json(text, reason):
    with pytest.raises(jsonsafe.UnsafeJSON, match=reason):
        jsonsafe.loads(text)


def test_loads_keeps_what_is_fine():
    # Brackets inside strings are text, not nesting; 64 levels are allowed; pairs make one character.
    assert jsonsafe.loads('{"a": "' + "[" * 500 + '\\"]"}') == {"a": "[" * 500 + '"]'}
    assert jsonsafe.depth("[" * 64 + "]" * 64) == 64 and isinstance(jsonsafe.loads("[" * 64 + "]" * 64), list)
    assert jsonsafe.loads('"\\ud83d\\ude00"') == "\U0001f600"
    with pytest.raises(ValueError):
        jsonsafe.loads("{not json")


# --- answers the engine reads ----------------------------------------------------------------------


@pytest.mark.parametrize("answer", [SURROGATE_ANSWER, DEEP_ANSWER], ids=["surrogate", "deep"])
def test_an_api_call_answer_the_api_would_refuse_fails_and_changes_nothing(seed, receiver, answer):
    """Read as the API reads a body, such an answer is refused; since it may carry a "task" the step
    cannot see, it fails the step (as an answer over the size limit does): the task keeps its values,
    the person is alerted, and the board still renders."""
    receiver.set_response(status=200, body=answer.encode(), headers={"Content-Type": "application/json"})
    action = seed.action("Sync", [{"type": "api_call", "config": {"url": receiver.url_for("/sync")}}])
    before = Task.objects.get(pk=seed.task.pk).data
    run = run_execute(action_perform(action=action, task=seed.task, actor=seed.world.admin).pk)
    assert run.status == Run.Status.FAIL
    assert "the API's answer could not be read" in run.errors[0] and "the task was not changed" in run.errors[0]
    assert receiver.wait_for_requests(1)
    assert Task.objects.get(pk=seed.task.pk).data == before
    assert Notification.objects.filter(user=seed.world.admin, kind="action_failed", task=seed.task).exists()
    board = client_for(seed.world.admin).get("/flows/acme/sales")
    assert board.status_code == 200 and "Acme Corp" in board.content.decode()


# --- HTMX forms that carry JSON ---------------------------------------------------------------------


def _workflow_form(**extra) -> dict:
    return {
        "name": "Hostile",
        "triggerModule": "tasks",
        "triggerType": "task_created",
        "flowId": "",
        "isActive:bool": ["0", "1"],
        "triggerFilters.logic": "AND",
        **extra,
    }


@pytest.fixture
def formless():
    """A step type without a form, which both editors edit as JSON text (every built-in type has a
    form; a new one may not yet)."""
    from actions.steps.base import StepResult, StepType, register, unregister

    @register
    class Formless(StepType):
        type = "test_formless"
        label = "Formless"

        def execute(self, ctx, config):
            return StepResult()

    yield Formless
    unregister(Formless)


@pytest.mark.parametrize("text", [DEEP, '{"values": {"Notes": "\\ud800"}}', '{"values": NaN}'])
@pytest.mark.parametrize(
    "fields",
    [
        # A type the editor shows as JSON: one without a form.
        lambda text: {"actions[0].actionType": "test_formless", "actions[0].config": text},
        lambda text: {
            "actions[0].actionType": "webhook",
            "actions[0].config.url": "https://hooks.example.com/x",
            "actions[0].config.method": "POST",
            "actions[0].config.body": text,
        },
    ],
    ids=["json-config", "webhook-body"],
)
def test_the_workflow_editor_refuses_hostile_json_next_to_the_field(world, formless, text, fields):
    admin = client_for(world.admin)
    before = snapshot()
    response = admin.post("/organizations/acme/workflows/new", _workflow_form(**fields(text)))
    assert response.status_code == 422
    assert "is not accepted" in response.content.decode()
    assert snapshot() == before and not Workflow.objects.exists()


@pytest.mark.parametrize("text", [DEEP, '{"tag": "\\ud800"}', '{"tag": Infinity}'])
def test_the_flow_builder_refuses_hostile_json_in_a_step_config(seed, formless, text):
    action = seed.action("Go", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    admin = client_for(seed.world.admin)
    admin.get("/flows/acme/sales/builder")
    before = snapshot()
    response = admin.post(
        f"/flows/acme/sales/builder/actions/a{action.pk}/steps/apply",
        {"type": "test_formless", "step_key": "", "config": text},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code < 500
    assert "is not accepted" in response.content.decode()
    assert snapshot() == before
    assert list(Step.objects.filter(action=action).values_list("type", flat=True)) == ["move_to_stage"]


# --- text stored before surrogates were refused ----------------------------------------------------


def _store_lone_surrogate(task: Task) -> None:
    Task.objects.filter(pk=task.pk).update(
        data={**task.data, str(task.flow.fields.get(name="Company Name").pk): "Evil \ud800 Corp"}
    )


def test_stored_lone_surrogates_are_shown_replaced(seed, api):
    """SQLite keeps a lone surrogate in JSON (PostgreSQL refuses it, below): every page and answer that
    shows it must still render, with U+FFFD in its place, instead of a 500 for everyone."""
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic():
            _store_lone_surrogate(seed.task)
        return
    _store_lone_surrogate(seed.task)
    key = seed.task.pk
    shown = "Evil \ufffd Corp"
    client = api(seed.world.admin)
    for url in ["/api/flows/acme/sales/tasks", "/api/flows/acme/sales/tasks/active"]:
        response = client.get(url)
        assert response.status_code == 200 and response.json()[0]["Company Name"] == shown
    response = client.get("/api/flows/acme/sales/tasks/42")
    assert response.status_code == 200 and response.json()["Company Name"] == shown
    browser = client_for(seed.world.admin)
    for url in ["/flows/acme/sales", f"/flows/acme/sales/tasks/{key}", f"/flows/acme/sales/tasks/{key}/fields"]:
        response = browser.get(url)
        assert response.status_code == 200, url
        assert shown in response.content.decode(), url


# --- the pages' own doors: ids and numbers in paths and queries ---------------------------------------


def _page_routes():
    """(route, name) of every page (everything outside /api/ and the admin), as written in the URLconf."""
    out = []

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace not in ("api", "admin"):
                    walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                out.append((prefix + str(p.pattern), p.name))

    walk(get_resolver().url_patterns, "")
    return out


PAGES = _page_routes()
HUGE_TEXT = "99999999999999999999"


@pytest.mark.parametrize("route,name", PAGES, ids=[name for _, name in PAGES])
def test_every_page_answers_huge_numbers_without_a_500(door, route, name):
    """Every id in the path at its real value and then beyond 64 bits, with every number-like query
    parameter the pages read beyond 64 bits: a page, a 404 or a refusal, never a 500."""
    admin = client_for(door.world.admin)
    values = {
        **door.values,
        "task_id": door.task.pk,
        "key": "Notes",
        "step_key": "s1",
        "type_name": "update_data",
        "number": 1,
        "token": "nope",
    }
    query = {k: HUGE_TEXT for k in ("page", "stage", "assignee", "edit", "action", "version", "to", "run")}
    for huge in (False, True):
        path = "/" + re.sub(
            r"<(?:\w+:)?(\w+)>",
            lambda m, huge=huge: HUGE_TEXT if huge and m.group(1) not in ("org", "flow") else str(values[m.group(1)]),
            route,
        )
        for method in ("get", "post"):
            response = getattr(admin, method)(path + "?" + urlencode(query), {"to": HUGE_TEXT, "position": HUGE_TEXT})
            assert response.status_code < 500, (method, path, response.status_code)


def test_form_posts_cannot_carry_lone_surrogates(seed):
    """Form bodies are decoded with replacement, so an encoded surrogate becomes U+FFFD, never a 500."""
    admin = client_for(seed.world.admin)
    response = admin.post(
        f"/flows/acme/sales/tasks/{seed.task.pk}/comments",
        b"body=Evil+%ED%A0%80+comment",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code < 400
    assert seed.task.comments.get().body == "Evil \ufffd\ufffd\ufffd comment"
