"""Every field type's accepted and refused values, through the Task API."""

import pytest

from flows.models import Field
from tasks.models import Task
from tests.factories import FieldFactory
from tests.tasks.conftest import SALES

pytestmark = pytest.mark.django_db

T = Field.Type
OPTIONS = {T.SINGLE_SELECT: ["Low", "High"], T.MULTIPLE_SELECT: ["Red", "Green", "Blue"]}

ACCEPTED = [
    (T.TEXT, "Acme Corp", "Acme Corp"),
    (T.TEXT, "line\r\nbreak", "line\r\nbreak"),
    (T.TEXT, "x" * 10_000, "x" * 10_000),
    (T.TEXT, "", None),
    (T.TEXT, None, None),
    (T.LONG_TEXT, "y" * 20_000, "y" * 20_000),
    (T.NUMBER, 20, "20"),
    (T.NUMBER, "20", "20"),
    (T.NUMBER, "10000.50", "10000.5"),
    (T.NUMBER, 1e4, "10000"),
    (T.NUMBER, "-0.25", "-0.25"),
    (T.NUMBER, "0.000", "0"),
    (T.CURRENCY, "10000", "10000"),
    (T.CURRENCY, 10000.5, "10000.5"),
    (T.PHONE, "+1 (555) 123-4567", "+1 (555) 123-4567"),
    (T.DATE, "2020-01-31", "2020-01-31"),
    (T.DATETIME, "2020-01-31T10:00:00Z", "2020-01-31T10:00:00Z"),
    (T.DATETIME, "2020-01-31T12:00:00+02:00", "2020-01-31T10:00:00Z"),
    (T.DATETIME, "2020-01-31T10:00:00", "2020-01-31T10:00:00Z"),
    (T.PERSON, "Flowie@Example.com", "flowie@example.com"),
    (T.SINGLE_SELECT, "High", "High"),
    (T.SINGLE_SELECT, "high", "High"),
    (T.MULTIPLE_SELECT, ["Red", "blue", "Red"], ["Red", "Blue"]),
    (T.MULTIPLE_SELECT, [], []),
    (T.CHECKBOX, True, True),
    (T.CHECKBOX, False, False),
    (T.CHECKBOX, None, False),
    (T.EMAIL, "Someone@Example.com", "someone@example.com"),
    (T.URL, "https://example.com/a?b=c", "https://example.com/a?b=c"),
    (T.URL, "http://example.com", "http://example.com"),
]

REFUSED = [
    (T.TEXT, 42, "must be a string"),
    (T.TEXT, "x" * 10_001, "must be at most 10,000 characters"),
    (T.TEXT, ["a"], "must be a string"),
    (T.NUMBER, "twenty", "must be a number"),
    (T.NUMBER, True, "must be a number"),
    (T.NUMBER, "1e999999999", "must have at most 30 digits"),
    (T.NUMBER, "NaN", "must be a number"),
    (T.NUMBER, "1,000", "must be a number"),
    (T.CURRENCY, "$10", "must be a number"),
    (T.PHONE, "call me", "must be a phone number: digits, +, spaces, dashes and parentheses"),
    (T.PHONE, "12", "must be a phone number: digits, +, spaces, dashes and parentheses"),
    (T.PHONE, "555+1234", "must be a phone number: digits, +, spaces, dashes and parentheses"),
    (T.DATE, "2020-02-30", "must be a date as YYYY-MM-DD"),
    (T.DATE, "31/01/2020", "must be a date as YYYY-MM-DD"),
    (T.DATE, 20200131, "must be a date as YYYY-MM-DD"),
    (T.DATETIME, "2020-01-31", "must be an ISO 8601 date and time, e.g. 2020-01-31T10:00:00Z"),
    (T.DATETIME, "yesterday", "must be an ISO 8601 date and time, e.g. 2020-01-31T10:00:00Z"),
    (T.PERSON, "member@example.com", "must be the email of a member of this flow"),
    (T.PERSON, "not an email", "must be a valid email address"),
    (T.SINGLE_SELECT, "Medium", "must be one of: Low, High"),
    (T.SINGLE_SELECT, ["Low"], "must be one of the options"),
    (T.MULTIPLE_SELECT, "Red", "must be a list of options"),
    (T.MULTIPLE_SELECT, ["Red", "Pink"], "must be one of: Red, Green, Blue"),
    (T.CHECKBOX, "true", "must be true or false"),
    (T.CHECKBOX, 1, "must be true or false"),
    (T.EMAIL, "nope", "must be a valid email address"),
    (T.EMAIL, "a@b@c.com", "must be a valid email address"),
    (T.URL, "ftp://example.com/file", "must be an http(s) URL"),
    (T.URL, "javascript:alert(1)", "must be an http(s) URL"),
    (T.URL, "example.com", "must be an http(s) URL"),
    (T.FILE, "not a list", "must be a list of files"),
    (T.FILE, [{"filename": "a.txt"}], "each file needs base64contents, remoteUrl or blobId"),
]


def _field(world, kind):
    return FieldFactory(flow=world.flow, name="Value", type=kind, options=OPTIONS.get(kind, []))


@pytest.mark.parametrize("kind, sent, expected", ACCEPTED)
def test_accepted_values(world, api, kind, sent, expected):
    field = _field(world, kind)
    client = api(world.admin)
    response = client.post(f"{SALES}/tasks", {"Value": sent}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["Value"] == expected
    task = Task.objects.get()
    # Empty values are not stored at all.
    assert (str(field.pk) in task.data) == (expected not in (None, [], False) or sent is False)
    # The same value sent again is no change.
    again = client.patch(f"{SALES}/tasks/{task.pk}", {"Value": sent}, format="json")
    assert again.status_code == 200
    assert task.events.count() == 1


@pytest.mark.parametrize("kind, sent, reason", REFUSED)
def test_refused_values(world, api, kind, sent, reason):
    _field(world, kind)
    response = api(world.admin).post(f"{SALES}/tasks", {"Value": sent}, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": {"Value": [reason]}}
    assert not Task.objects.exists()


def test_unique_id_is_not_writable(world, api):
    FieldFactory(flow=world.flow, name="Number", type=T.UNIQUE_ID, unique=True, editable=False)
    client = api(world.admin)
    created = client.post(f"{SALES}/tasks", {}, format="json").json()
    assert created["Number"] == "1"
    response = client.patch(f"{SALES}/tasks/1", {"Number": "5"}, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": {"Number": ["is assigned automatically and cannot be set"]}}
    # Its own value (a round trip) is fine, as a number or a string.
    assert client.patch(f"{SALES}/tasks/1", {"Number": 1}, format="json").status_code == 200


def test_non_editable_fields_are_refused_to_people_in_the_browser_only(world):
    from tasks.services import task_validate
    from tasks.values import TaskValidationError

    FieldFactory(flow=world.flow, name="Score", type=T.NUMBER, editable=False)
    assert task_validate(flow=world.flow, data={"Score": 3}, partial=True)["data"]
    with pytest.raises(TaskValidationError) as caught:
        task_validate(flow=world.flow, data={"Score": 3}, partial=True, source="web")
    assert caught.value.errors == {"Score": ["cannot be edited"]}


def test_task_validate_is_what_the_api_call_step_uses(world):
    from tasks.services import task_validate
    from tasks.values import TaskValidationError

    field = FieldFactory(flow=world.flow, name="Expected Close Date", type=T.DATE)
    cleaned = task_validate(flow=world.flow, data={"Expected Close Date": "2020-02-01", "Stage": "Done"}, partial=True)
    assert cleaned["data"] == {str(field.pk): "2020-02-01"}
    assert cleaned["stage"].name == "Done"
    with pytest.raises(TaskValidationError) as caught:
        task_validate(flow=world.flow, data={"Expected Close Date": "soon"}, partial=True)
    assert caught.value.errors == {"Expected Close Date": ["must be a date as YYYY-MM-DD"]}
