"""A client generated from /api/schema by a stock OpenAPI generator (openapi-python-client) works: with a
token it lists the flows and creates a task against the running server, and reads the answers as the
document types them."""

import importlib
import subprocess
import sys

import pytest
import requests

from flows.models import Field
from tasks.models import Task
from tests.factories import token_for

pytestmark = pytest.mark.django_db(transaction=True)

PACKAGE = "flowsite_client"


@pytest.fixture
def generated_client(tmp_path, live_server, world):
    # The document as a consumer gets it: from the running server.
    token = token_for(world.admin)
    document = requests.get(
        f"{live_server.url}/api/schema?format=json", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert document.status_code == 200
    (tmp_path / "schema.json").write_bytes(document.content)
    # No post-generation hooks: the generated code must import as generated.
    (tmp_path / "config.yaml").write_text(f"post_hooks: []\npackage_name_override: {PACKAGE}\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(tmp_path / "schema.json"),
            "--config",
            str(tmp_path / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE), token
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_a_generated_client_lists_flows_and_creates_a_task_with_a_token(generated_client, live_server, world):
    package, token = generated_client
    Field.objects.create(flow=world.flow, name="Company Name", type="text", position=50)
    client_module = importlib.import_module(f"{PACKAGE}.client")
    flow_list = importlib.import_module(f"{PACKAGE}.api.flows.flow_list_get")
    task_create = importlib.import_module(f"{PACKAGE}.api.flows.task_list_post")
    task_request = importlib.import_module(f"{PACKAGE}.models.task_object_request")
    client = client_module.AuthenticatedClient(base_url=live_server.url, token=token, raise_on_unexpected_status=True)

    flows = flow_list.sync(client=client)
    assert [(flow.id, flow.parameterized_name, flow.organization.parameterized_name) for flow in flows] == [
        (world.flow.pk, "sales", "acme")
    ]

    body = task_request.TaskObjectRequest.from_dict({"Company Name": "Acme Corp"})
    response = task_create.sync_detailed(org="acme", flow="sales", client=client, body=body)
    assert response.status_code == 201
    task = response.parsed
    assert task["Company Name"] == "Acme Corp"
    assert task.stage == world.flow.stages.order_by("position").first().name
    assert task.id == Task.objects.get().pk
    assert task.task_url.startswith(live_server.url)

    # Without the token, the same client class is refused in the document's error shape.
    anonymous = client_module.Client(base_url=live_server.url, raise_on_unexpected_status=True)
    refused = flow_list.sync_detailed(client=anonymous)
    assert refused.status_code == 401 and refused.parsed.message
