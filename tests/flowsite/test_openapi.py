"""The OpenAPI document: generated from the views' serializers with no warning, and complete.

Every operation the URLconf serves is in it with its bodies, its errors in its API's shape, and the
three ways to send a token; `/api/schema` (what `/api/docs` renders) serves the same document.
"""

import pytest
import yaml
from django.core.management import call_command

from tests.flowsite.test_hostile_input import ROUTES

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")
# Writes that take no body: deleting, and retrying a run.
NO_BODY = {("/api/workflows/runs/{run_id}/retry", "post")}


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    # --fail-on-warn: an operation without declared bodies, or any other warning, fails the test.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def _operations(document):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _schema_of(document, response):
    ref = response["content"]["application/json"]["schema"]["$ref"]
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_every_api_endpoint_and_method_is_documented(document):
    documented = {(path, method) for path, method, _ in _operations(document)}
    expected = set()
    for route, _name, view in ROUTES:
        path = "/" + route
        for converter in ("slug:", "id:", "str:"):
            path = path.replace("<" + converter, "{")
        path = path.replace(">", "}")
        if path.endswith(("/schema", "/docs")):
            continue
        expected |= {(path, method) for method in METHODS if hasattr(view, method)}
    assert expected and documented == expected


def test_every_operation_declares_its_bodies_statuses_and_authentication(document):
    for path, method, operation in _operations(document):
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        successes = [code for code in responses if code.startswith("2")]
        assert successes, where
        for code in successes:
            if code != "204":
                assert "application/json" in responses[code]["content"], where
        assert "401" in responses, where
        if method != "get":
            assert {"403", "413"} <= set(responses), where
            if method != "delete" and (path, method) not in NO_BODY:
                assert "application/json" in operation["requestBody"]["content"], where
        if "{" in path:
            assert "404" in responses, where
        for parameter in operation.get("parameters", []):
            assert "schema" in parameter, (where, parameter)
        assert operation["security"] == [{"bearerAuth": []}, {"tokenAuth": []}, {"basicAuth": []}], where


def test_the_three_ways_to_send_a_token(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["tokenAuth"] == {**schemes["tokenAuth"], "type": "apiKey", "in": "header", "name": "Authorization"}
    assert schemes["basicAuth"] == {**schemes["basicAuth"], "type": "http", "scheme": "basic"}


def test_each_api_answers_errors_in_its_own_shape(document):
    paths = document["paths"]
    flowdock = _schema_of(document, paths["/api/flows/{org}"]["post"]["responses"]["400"])
    assert set(flowdock["properties"]) == {"message", "errors"}
    task = _schema_of(document, paths["/api/flows/{org}/{flow}/tasks"]["post"]["responses"]["422"])
    assert set(task["properties"]) == {"errors"}
    execution = _schema_of(document, paths["/api/flows/{org}/{flow}/executions"]["post"]["responses"]["422"])
    assert set(execution["properties"]) == {"status", "errors"}
    confirm = _schema_of(document, paths["/api/flows/{org}/{flow}/fields/{field_id}"]["put"]["responses"]["409"])
    assert set(confirm["properties"]) == {"message", "errors", "lost"}
    not_found = _schema_of(document, paths["/api/workflows/{workflow_id}"]["get"]["responses"]["404"])
    assert set(not_found["properties"]) == {"message"}


def test_query_parameters_are_declared(document):
    def names(path, method="get"):
        return {p["name"]: p for p in document["paths"][path][method].get("parameters", []) if p["in"] == "query"}

    tasks = names("/api/flows/{org}/{flow}/tasks")
    assert tasks["page"]["schema"]["maximum"] and tasks["limit"]["schema"]["minimum"] == 1
    assert tasks["filters"]["style"] == "form" and tasks["filters"]["explode"] is True
    assert {"page", "limit", "status"} <= set(names("/api/workflows/{workflow_id}/runs"))
    module = names("/api/workflows")["module"]["schema"]
    assert "$ref" in str(module) or "enum" in module
    assert "users" in names("/api/flows")


def test_the_task_object_is_keyed_by_field_names(document):
    task = _schema_of(document, document["paths"]["/api/flows/{org}/{flow}/tasks/{key}"]["get"]["responses"]["200"])
    assert {"Stage", "Assigned To", "Task URL"} <= set(task["properties"])
    values = task["additionalProperties"]
    assert values["nullable"] is True
    assert {s["type"] for s in values["oneOf"]} == {"string", "boolean", "array"}


def test_workflow_actions_are_a_oneof_on_action_type_and_triggers_are_enums(document):
    schemas = document["components"]["schemas"]
    action = schemas["WorkflowAction"]
    assert action["discriminator"]["propertyName"] == "actionType"
    assert {"webhook", "add_tag", "assign_owner", "branch", "wait"} <= set(action["discriminator"]["mapping"])
    assert len(action["oneOf"]) == len(action["discriminator"]["mapping"])
    workflow = schemas["WorkflowOut"]["properties"]
    trigger_types = schemas[workflow["triggerType"]["$ref"].rsplit("/", 1)[1]]["enum"]
    assert "task_created" in trigger_types and "lead_created" in trigger_types
    operator = schemas["TriggerFilterCondition"]["properties"]["operator"]
    assert "changed_to" in operator.get("enum", []) or "$ref" in operator


def test_the_served_document_is_the_same_and_the_docs_page_renders_it(world, client):
    client.force_login(world.admin)
    served = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert served.status_code == 200
    body = served.json()
    operation = body["paths"]["/api/flows/{org}/{flow}/tasks"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert set(body["components"]["securitySchemes"]) == {"bearerAuth", "tokenAuth", "basicAuth"}
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
