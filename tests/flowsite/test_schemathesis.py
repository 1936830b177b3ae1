"""A schema-driven fuzz run: every operation of /api/schema, called through the whole app (WSGI: the
middleware, the URL layer, the views) with a valid token and path parameters that name real objects.

Each answer must not be a 5xx, must have a status the document lists for the operation, its content type,
and a body that matches the declared schema. A finding names the operation and the failing case (with
a curl line to repeat it); the run is bounded (examples per operation, no shrinking) to a few minutes.
"""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import UserFactory, add_org_member, token_for
from tests.flowsite.test_hostile_input import Door, door  # noqa: F401  (the world with one of everything)

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Examples per operation (an operation without inputs needs one): about 1,800 requests, under a minute.
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "50"))


def _path_parameters(door: Door, path: str) -> dict:
    values = dict(door.values)
    if path.startswith("/api/organizations/{org}/users/"):
        # Remove someone else: removing the only admin is refused, and would end the run's access.
        values["user_id"] = door.world.member.pk
    if path.startswith("/api/flows/{org}/{flow}/users/"):
        values["user_id"] = door.world.flow_member.pk
    return {name: values[name] for name in values if "{" + name + "}" in path}


@pytest.fixture
def app():
    """The WSGI application, keeping the test's database connection (and its transaction) open across
    requests, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_every_operation_answers_as_the_document_says(door, app):
    # The caller is an organization admin who only uses a token (no session, so no CSRF).
    token = token_for(door.world.admin)
    add_org_member(door.world.org, UserFactory(email="someone@example.com"))
    schema = schemathesis.openapi.from_wsgi("/api/schema", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 50
    # Deletes last, so the objects they remove are there for every other operation first.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    findings = []
    for operation in operations:
        strategy = operation.as_strategy(
            path_parameters=_path_parameters(door, operation.path),
            headers={"Authorization": f"Bearer {token}"},
        )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def call(case):
            case.call_and_validate(checks=CHECKS)

        try:
            call()
        # Each operation's findings are collected (schemathesis raises a group), so one run reports them all.
        except (Exception, BaseExceptionGroup) as exc:
            findings.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not findings, "\n\n".join(findings)
