import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection, transaction

import tasks.services
from flows.models import Field
from tasks.models import Task
from tests.factories import FieldFactory, make_task, token_for
from tests.receivers import Receiver, Reply
from tests.tasks.conftest import SALES

pytestmark = pytest.mark.django_db


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def contract(world):
    return FieldFactory(flow=world.flow, name="Contract", type=Field.Type.FILE)


def test_upload_by_base64contents(world, api, contract, media_root, django_capture_on_commit_callbacks):
    client = api(world.admin)
    with django_capture_on_commit_callbacks(execute=True):  # blobs are stored once the write commits
        response = client.post(
            f"{SALES}/tasks",
            {
                "Contract": [
                    {"filename": "deal.pdf", "contentType": "application/pdf", "base64contents": b64(b"%PDF-1")}
                ]
            },
            format="json",
        )
    assert response.status_code == 201, response.json()
    [item] = response.json()["Contract"]
    assert set(item) == {"blobId", "contentType", "filename"}
    assert item["filename"] == "deal.pdf" and item["contentType"] == "application/pdf"
    assert (media_root / "blobs" / item["blobId"]).read_bytes() == b"%PDF-1"

    # Sending the file back by blobId keeps it; adding one appends; omitting it removes it.
    task_id = response.json()["id"]
    response = client.patch(
        f"{SALES}/tasks/{task_id}",
        {"Contract": [{"blobId": item["blobId"]}, {"filename": "b.txt", "base64contents": b64(b"hi")}]},
        format="json",
    )
    assert response.status_code == 200
    files = response.json()["Contract"]
    assert [f["filename"] for f in files] == ["deal.pdf", "b.txt"]
    assert files[0] == item
    assert files[1]["contentType"] == "application/octet-stream"
    response = client.patch(f"{SALES}/tasks/{task_id}", {"Contract": []}, format="json")
    assert response.json()["Contract"] == []
    assert str(contract.pk) not in Task.objects.get().data


@pytest.mark.parametrize(
    "item, reason",
    [
        ({"filename": "a.txt", "base64contents": "!!not base64!!"}, "base64contents is not valid base64"),
        ({"base64contents": b64(b"x")}, "each file needs a filename"),
        ({"filename": "../etc/passwd", "base64contents": b64(b"x")}, "filename must be a plain file name"),
        ({"filename": "a.txt", "contentType": "text", "base64contents": b64(b"x")}, "contentType must be a MIME"),
        ({"blobId": "0" * 32}, "unknown blobId"),
        ({"blobId": "../../x"}, "unknown blobId"),
    ],
)
def test_bad_uploads_are_422(world, api, contract, item, reason):
    response = api(world.admin).post(f"{SALES}/tasks", {"Contract": [item]}, format="json")
    assert response.status_code == 422
    assert response.json()["errors"]["Contract"][0].startswith(reason)


def test_files_are_capped_at_10_mib(world, api, contract, monkeypatch):
    monkeypatch.setattr("tasks.values.FILE_MAX_BYTES", 4)
    response = api(world.admin).post(
        f"{SALES}/tasks", {"Contract": [{"filename": "a.bin", "base64contents": b64(b"12345")}]}, format="json"
    )
    assert response.status_code == 422
    assert response.json() == {"errors": {"Contract": ["each file must be at most 10 MiB"]}}


def test_a_blob_of_another_task_cannot_be_borrowed(world, api, contract):
    client = api(world.admin)
    first = client.post(
        f"{SALES}/tasks", {"Contract": [{"filename": "a.txt", "base64contents": b64(b"secret")}]}, format="json"
    ).json()
    response = client.post(f"{SALES}/tasks", {"Contract": [{"blobId": first["Contract"][0]["blobId"]}]}, format="json")
    assert response.status_code == 422


@pytest.fixture
def files_server(settings):
    """A real loopback file server; the outbound boundary lets only 127.0.0.1 through."""
    from tests.receivers import Receiver, Reply

    def handler(req):
        if req.path.startswith("/missing"):
            return Reply(404)
        if req.path.startswith("/huge"):
            return Reply(200, b"x" * 4096, headers={"Content-Type": "application/octet-stream"})
        return Reply(200, b"remote bytes", headers={"Content-Type": "text/plain; charset=utf-8"})

    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with Receiver(handler=handler) as receiver:
        yield receiver


def test_upload_by_remote_url_goes_through_the_outbound_boundary(
    world, api, contract, files_server, media_root, django_capture_on_commit_callbacks
):
    url = files_server.url_for("/docs/report%201.txt")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(world.admin).post(f"{SALES}/tasks", {"Contract": [{"remoteUrl": url}]}, format="json")
    assert response.status_code == 201, response.json()
    [item] = response.json()["Contract"]
    assert item["filename"] == "report 1.txt"
    assert item["contentType"] == "text/plain"
    assert [(r.method, r.path) for r in files_server.requests] == [("GET", "/docs/report%201.txt")]
    assert (media_root / "blobs" / item["blobId"]).read_bytes() == b"remote bytes"


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's create holds the one write lock from its check to its write: no other create in between",
)
@pytest.mark.django_db(transaction=True)
def test_an_upsert_that_loses_the_race_for_its_key_fetches_the_file_once(
    world, api, contract, files_server, media_root, monkeypatch
):
    """Another request creates the key between the upsert's lookup and its INSERT: the upsert
    updates that task with the file it fetched for the create, and the file server is asked once."""
    FieldFactory(flow=world.flow, name="Code", unique=True)
    validate = tasks.services._validate
    raced = []

    def other_request():
        try:
            raced.append(make_task(world.flow, world.admin, {"Code": "A"}))  # committed at once
        finally:
            connection.close()

    def validate_then_race(**kwargs):
        cleaned = validate(**kwargs)
        if not raced:
            monkeypatch.setattr(tasks.services, "_validate", validate)
            with ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(other_request).result()
        return cleaned

    monkeypatch.setattr(tasks.services, "_validate", validate_then_race)
    body = {"Code": "A", "Contract": [{"remoteUrl": files_server.url_for("/a.txt")}]}
    response = api(world.admin).post(f"{SALES}/tasks", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["id"] == raced[0].pk
    assert len(files_server.requests) == 1
    [item] = response.json()["Contract"]
    assert (media_root / "blobs" / item["blobId"]).read_bytes() == b"remote bytes"


@pytest.mark.parametrize(
    "path, reason",
    [
        ("/missing", "could not fetch remoteUrl: it answered 404"),
        ("/huge", "could not fetch remoteUrl: the file is larger than the download limit"),
    ],
)
def test_remote_url_failures_are_422(world, api, contract, files_server, settings, path, reason):
    settings.OUTBOUND_MAX_RESPONSE_BYTES = 1024
    url = files_server.url_for(path)
    response = api(world.admin).post(f"{SALES}/tasks", {"Contract": [{"remoteUrl": url}]}, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": {"Contract": [reason]}}


def test_remote_url_to_a_refused_address_is_422_and_never_sent(world, api, contract, files_server, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    response = api(world.admin).post(
        f"{SALES}/tasks", {"Contract": [{"remoteUrl": files_server.url_for("/x")}]}, format="json"
    )
    assert response.status_code == 422
    [reason] = response.json()["errors"]["Contract"]
    assert reason.startswith("could not fetch remoteUrl: address 127.0.0.1 is not allowed")
    assert files_server.requests == []


def test_remote_url_must_be_http(world, api, contract):
    response = api(world.admin).post(
        f"{SALES}/tasks", {"Contract": [{"remoteUrl": "file:///etc/passwd"}]}, format="json"
    )
    assert response.status_code == 422
    assert response.json() == {"errors": {"Contract": ["remoteUrl must be an http(s) URL"]}}


def stored_blobs(media_root) -> list:
    blobs = media_root / "blobs"
    return sorted(p.name for p in blobs.iterdir()) if blobs.exists() else []


def test_a_write_that_fails_validation_after_the_fetch_stores_no_file(
    world, api, contract, files_server, media_root, django_capture_on_commit_callbacks
):
    FieldFactory(flow=world.flow, name="Employees", type=Field.Type.NUMBER)
    task = make_task(world.flow, world.admin)
    url = files_server.url_for("/report.txt")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(world.admin).patch(
            f"{SALES}/tasks/{task.pk}", {"Contract": [{"remoteUrl": url}], "Employees": "many"}, format="json"
        )
    assert response.status_code == 422 and "Employees" in response.json()["errors"]
    assert len(files_server.requests) == 1  # fetched, then refused
    assert stored_blobs(media_root) == []


def test_a_write_that_rolls_back_leaves_no_file(world, api, contract, files_server, media_root):
    task = make_task(world.flow, world.admin)

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        response = api(world.admin).patch(
            f"{SALES}/tasks/{task.pk}", {"Contract": [{"remoteUrl": files_server.url_for("/a.txt")}]}, format="json"
        )
        assert response.status_code == 200 and len(response.json()["Contract"]) == 1
        raise Undo  # e.g. a later step of the same transaction failed
    assert stored_blobs(media_root) == []
    assert str(contract.pk) not in Task.objects.get(pk=task.pk).data


@pytest.mark.django_db(transaction=True)
def test_a_slow_remote_file_does_not_hold_the_task_for_other_writers(live_server, world, media_root, settings):
    """The fetch happens before the write locks the task: another write to the same task goes through
    while the file server is still answering. A fetch inside the write's transaction would make the
    second write wait: on the task's row lock on PostgreSQL, on the write lock that SQLite's
    IMMEDIATE transactions take."""
    contract = FieldFactory(flow=world.flow, name="Contract", type=Field.Type.FILE)
    note = FieldFactory(flow=world.flow, name="Note")
    task = make_task(world.flow, world.admin)
    release = threading.Event()

    def slow_file(req):
        release.wait(20)
        return Reply(200, b"slow bytes", headers={"Content-Type": "text/plain"})

    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    url = f"{live_server.url}{SALES}/tasks/{task.pk}"
    headers = {"Authorization": f"Bearer {token_for(world.admin)}"}
    with Receiver(handler=slow_file) as receiver, ThreadPoolExecutor(max_workers=1) as pool:
        try:
            upload = pool.submit(
                requests.patch,
                url,
                json={"Contract": [{"remoteUrl": receiver.url_for("/slow.txt")}]},
                headers=headers,
                timeout=30,
            )
            receiver.wait_for_requests(1)  # the upload is now waiting for the file
            started = time.monotonic()
            other = requests.patch(url, json={"Note": "written meanwhile"}, headers=headers, timeout=10)
            assert other.status_code == 200 and other.json()["Note"] == "written meanwhile"
            assert time.monotonic() - started < 5 and not upload.done()
        finally:
            release.set()
        assert upload.result().status_code == 200
    data = Task.objects.get(pk=task.pk).data
    assert data[str(note.pk)] == "written meanwhile"
    [item] = data[str(contract.pk)]
    assert (media_root / "blobs" / item["blobId"]).read_bytes() == b"slow bytes"  # stored after commit
