"""Steps that set a file field by remoteUrl (update_data's values, an API Call's answer, a new task's
values): the file is
fetched through the outbound boundary before the engine opens the transaction that applies the
step, so a slow file server holds neither that transaction nor (SQLite) the database's write lock.
A real loopback file server, the engine run directly in this thread."""

import json

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections

from actions.engine import run_execute
from actions.services import action_perform
from flows.models import Field
from flows.services import flow_schema_bump
from tasks.models import Task, TaskEvent, TaskLink
from tasks.services import task_to_json
from tests.actions.conftest import reply_json
from tests.receivers import Receiver, Reply
from tests.workflows.conftest import crm, start_workflow  # noqa: F401 - the workflow tests' fixture, shared

pytestmark = pytest.mark.django_db


class FileServer(Receiver):
    """Serves b"remote bytes" (or `status`), and notes how deep in transactions the engine's
    connection (this thread's, where run_execute runs) was when each fetch arrived."""

    def __init__(self):
        super().__init__(handler=self.answer)
        self.status = 200
        # This thread's connection itself (`connection` would be the handler thread's, there).
        self.engine_connection = connections[DEFAULT_DB_ALIAS]
        self.depths: list[int] = []

    def answer(self, req):
        self.depths.append(len(self.engine_connection.atomic_blocks))
        if self.status != 200:
            return Reply(self.status)
        return Reply(200, b"remote bytes", headers={"Content-Type": "text/plain"})


@pytest.fixture
def files():
    with FileServer() as server:
        yield server


@pytest.fixture
def contract(seed, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    field = Field.objects.create(flow=seed.flow, name="Contract", type=Field.Type.FILE, position=10)
    flow_schema_bump(flows=[seed.flow])
    return field


def perform(seed, action, django_capture_on_commit_callbacks):
    run = action_perform(action=action, task=seed.task, actor=seed.world.flow_member)
    with django_capture_on_commit_callbacks(execute=True):  # blobs are stored once the write commits
        return run_execute(run.pk)


def attach(seed, files, **values):
    """An update_data action setting Contract to the file server's file (and `values`). Saving it
    checks the literal value's URL and fetches nothing."""
    url = files.url_for("/deal%201.txt")
    values = {"Contract": [{"remoteUrl": url}], **values}
    action = seed.action("Attach", [{"type": "update_data", "config": {"values": values}}])
    assert files.requests == []
    return action


def stored(settings, seed, contract) -> bytes:
    [item] = Task.objects.get(pk=seed.task.pk).data[str(contract.pk)]
    assert item["filename"] == "deal 1.txt" and item["contentType"] == "text/plain"
    return (settings.MEDIA_ROOT / "blobs" / item["blobId"]).read_bytes()


def test_update_data_fetches_a_remote_file_before_the_steps_transaction(
    seed, contract, files, settings, django_capture_on_commit_callbacks
):
    action = attach(seed, files)
    outside = len(connection.atomic_blocks)  # the test's own transaction, if it has one
    run = perform(seed, action, django_capture_on_commit_callbacks)
    assert run.status == "success", run.errors
    assert len(files.requests) == 1
    assert files.depths == [outside]  # fetched with no transaction of the engine's open
    assert stored(settings, seed, contract) == b"remote bytes"


def test_update_data_whose_remote_file_cannot_be_fetched_changes_nothing(
    seed, contract, files, settings, django_capture_on_commit_callbacks
):
    action = attach(seed, files, **{"Company Name": "Changed"})
    files.status = 404
    before = task_to_json(task=Task.objects.get(pk=seed.task.pk))
    events = TaskEvent.objects.count()
    run = perform(seed, action, django_capture_on_commit_callbacks)
    assert run.status == "fail"
    assert "the values were refused (Contract: could not fetch remoteUrl: it answered 404)" in run.errors[0]
    assert len(files.requests) == 1
    assert task_to_json(task=Task.objects.get(pk=seed.task.pk)) == before
    assert TaskEvent.objects.count() == events
    assert not (settings.MEDIA_ROOT / "blobs").exists()


def test_an_api_calls_answer_naming_a_remote_file_fetches_it_before_the_steps_transaction(
    seed, contract, files, receiver, settings, django_capture_on_commit_callbacks
):
    reply_json(receiver, {"task": {"Contract": [{"remoteUrl": files.url_for("/deal%201.txt")}]}})
    action = seed.action("Sync", [{"type": "api_call", "config": {"url": receiver.url}}])
    outside = len(connection.atomic_blocks)
    run = perform(seed, action, django_capture_on_commit_callbacks)
    assert run.status == "success", run.errors
    assert json.loads(receiver.requests[0].body)["task"]["id"] == seed.task.pk
    assert files.depths == [outside]
    assert stored(settings, seed, contract) == b"remote bytes"


def test_create_task_fetches_a_remote_file_before_the_steps_transaction(
    crm, files, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    attachment = Field.objects.create(flow=crm.tasks, name="Attachment", type=Field.Type.FILE, position=10)
    flow_schema_bump(flows=[crm.tasks])
    config = {"fields": {"Name": "Call back", "Attachment": [{"remoteUrl": files.url_for("/deal%201.txt")}]}}
    lead = crm.lead()
    run = start_workflow(lead, [{"actionType": "create_task", "config": config}])
    files.depths.clear()  # in case saving the step checked the value by fetching it
    outside = len(connection.atomic_blocks)
    with django_capture_on_commit_callbacks(execute=True):
        run = run_execute(run.pk)
    assert run.status == "success", run.errors
    assert files.depths == [outside]
    [item] = TaskLink.objects.get(from_task=lead).to_task.data[str(attachment.pk)]
    assert (settings.MEDIA_ROOT / "blobs" / item["blobId"]).read_bytes() == b"remote bytes"


def post_attach(seed, api, url):
    """Save, through the Actions API, an update_data action setting Contract to the file at `url`."""
    step = {"type": "update_data", "config": {"values": {"Contract": [{"remoteUrl": url}]}}}
    body = {"name": "Attach", "steps": [step]}
    return api(seed.world.admin).post("/api/flows/acme/sales/actions", body, format="json")


def test_saving_a_step_with_a_remote_file_sends_nothing(seed, contract, files, api):
    # Through the Actions API: the value is saved as given, and the file is fetched when the step runs.
    url = files.url_for("/deal.txt")
    response = post_attach(seed, api, url)
    assert response.status_code == 201, response.json()
    assert response.json()["steps"][0]["config"] == {"fields": {"Contract": [{"remoteUrl": url}]}}
    assert files.requests == []


@pytest.mark.parametrize("url", ["ftp://files.example.com/deal.txt", "not a url", 7])
def test_saving_a_step_with_a_remote_file_that_is_not_http_is_400(seed, contract, files, api, url):
    response = post_attach(seed, api, url)
    assert response.status_code == 400
    assert response.json()["errors"]["steps[0].config.values.Contract"] == ["remoteUrl must be an http(s) URL"]
    assert not seed.flow.actions.filter(name="Attach").exists()


def test_saving_a_step_with_a_remote_file_at_a_refused_address_is_400(seed, contract, api, settings):
    # A literal address the outbound policy refuses could never be fetched: refused at save, with the
    # run's message, refused before any connection is made.
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    response = post_attach(seed, api, "http://10.0.0.5/deal.txt")
    assert response.status_code == 400
    assert response.json()["errors"]["steps[0].config.values.Contract"] == [
        "could not fetch remoteUrl: address 10.0.0.5 is not allowed (private network)"
    ]
    assert not seed.flow.actions.filter(name="Attach").exists()
