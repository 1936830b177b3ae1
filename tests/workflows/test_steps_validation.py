"""Every workflow action type validates its config on save with a clear StepConfigError."""

import pytest

from actions.steps.base import StepConfigError, get_step_type, step_types

pytestmark = pytest.mark.django_db

TYPES = {
    "assign_owner",
    "create_task",
    "update_field",
    "add_tag",
    "send_notification",
    "send_email",
    "send_sms",
    "send_whatsapp",
    "webhook",
    "wait",
    "branch",
    "create_opportunity",
    "create_project",
}


def clean(type_name, config, crm=None, flow=None, **kwargs):
    organization = crm.org if crm is not None else None
    if crm is not None and flow is None:
        flow = crm.leads
    return get_step_type(type_name).validate(config, flow=flow, organization=organization, **kwargs)


def test_all_thirteen_types_are_registered_for_workflows():
    registered = {step.type for step in step_types("workflow")}
    assert TYPES <= registered
    assert "api_call" not in registered  # an action step, not a workflow action
    for name in TYPES:
        step = get_step_type(name)
        assert step.label and step.description and "workflow" in step.contexts


GOOD = [
    ("assign_owner", {"algorithm": "least_loaded", "userIds": ["rep1@example.com"]}),
    ("create_task", {"fields": {"Name": "Call {{trigger.companyName}}"}, "stage": "To Do", "assignTo": "owner"}),
    ("update_field", {"field": "Status", "value": "Qualified {{trigger.source}}"}),
    ("update_field", {"fields": {"Score": 5, "Notes": None}}),
    ("add_tag", {"tag": "vip"}),
    ("add_tag", {"tags": ["vip", "{{trigger.source}}"]}),
    ("send_notification", {"toOwner": True, "message": "New lead {{trigger.companyName}}", "userIds": []}),
    ("send_email", {"to": ["owner", "a@b.test", "{{trigger.email}}"], "subject": "Hi", "body": "Hello"}),
    ("send_sms", {"to": "{{trigger.phone}}", "body": "Hi"}),
    ("send_whatsapp", {"to": "+15551234567", "body": "Hi"}),
    ("wait", {"duration": 5, "unit": "minutes"}),
    ("create_opportunity", {"stage": "Negotiation", "fields": {"Notes": "{{trigger.notes}}"}}),
    ("create_project", {}),
]


@pytest.mark.parametrize("type_name,config", GOOD)
def test_good_configs_round_trip(crm, type_name, config):
    flow = crm.opportunities if type_name == "create_project" else crm.leads
    cleaned = clean(type_name, config, crm, flow=flow)
    assert clean(type_name, cleaned, crm, flow=flow) == cleaned


BAD = [
    ("assign_owner", {"algorithm": "random", "userIds": [1]}, "algorithm"),
    ("assign_owner", {"algorithm": "round_robin"}, "userIds"),
    ("assign_owner", {"userIds": ["nobody@example.com"]}, "userIds"),
    ("assign_owner", {"userIds": ["outsider@example.com"]}, "userIds"),
    ("assign_owner", {"userIds": ["not an email"]}, "userIds"),
    ("assign_owner", {"userIds": [True]}, "userIds"),
    ("assign_owner", {"userIds": ["rep1@example.com", "REP1@example.com"]}, "userIds"),
    ("assign_owner", {"userIds": ["rep1@example.com"], "extra": 1}, "extra"),
    ("create_task", {"fields": {"Nope": "x"}}, "fields.Nope"),
    ("create_task", {"fields": "Name"}, "fields"),
    ("create_task", {"stage": "Nowhere"}, "stage"),
    ("create_task", {"assignTo": "outsider@example.com"}, "assignTo"),
    ("update_field", {"field": "Nope", "value": "x"}, "field.Nope"),
    ("update_field", {"field": "Notes"}, "value"),
    ("update_field", {"field": "Notes", "value": "x", "fields": {}}, "fields"),
    ("update_field", {"fields": {}}, "fields"),
    ("update_field", {"fields": {"Notes": {"a": 1}}}, "fields.Notes"),
    ("add_tag", {}, "tag"),
    ("add_tag", {"tag": "a\nb"}, "tag"),
    ("add_tag", {"tag": "x" * 51}, "tag"),
    ("add_tag", {"tags": []}, "tags"),
    ("send_notification", {"message": "hi"}, "userIds"),
    ("send_notification", {"toOwner": "yes", "message": "hi"}, "toOwner"),
    ("send_notification", {"toOwner": True}, "message"),
    ("send_email", {"to": [], "subject": "s", "body": "b"}, "to"),
    ("send_email", {"to": ["not-an-email"], "subject": "s", "body": "b"}, "to"),
    ("send_email", {"to": ["a@b.test"], "body": "b"}, "subject"),
    ("send_sms", {"to": "12", "body": "x"}, "to"),
    ("send_sms", {"to": "+15551234567"}, "body"),
    ("send_sms", {"to": "+15551234567", "body": "x" * 1601}, "body"),
    ("send_whatsapp", {"to": "+15551234567", "body": "x", "media": "y"}, "media"),
    ("webhook", {}, "url"),
    ("webhook", {"url": "ftp://example.com/x"}, "url"),
    ("webhook", {"url": "{{trigger.url}}"}, "url"),
    ("webhook", {"url": "https://example.com/a b"}, "url"),
    ("webhook", {"url": "https://example.com", "method": "TRACE"}, "method"),
    ("webhook", {"url": "https://example.com", "headers": {"X-A": "a\r\nX-B: b"}}, "headers[0]"),
    ("webhook", {"url": "https://example.com", "headers": {"Content-Length": "1"}}, "headers[0].name"),
    ("webhook", {"url": "https://example.com", "body": "text"}, "body"),
    ("webhook", {"url": "https://example.com", "maxAttempts": 11}, "maxAttempts"),
    ("webhook", {"url": "https://example.com", "maxAttempts": 0}, "maxAttempts"),
    ("webhook", {"url": "https://example.com/{{trigger.compnyName}}"}, "url"),
    ("wait", {"duration": 0, "unit": "minutes"}, "duration"),
    ("wait", {"duration": 5, "unit": "weeks"}, "unit"),
    ("wait", {"duration": "soon"}, "duration"),
    ("wait", {"duration": 400, "unit": "days"}, "duration"),
    ("branch", {"conditions": []}, "conditions"),
    ("branch", {"logic": "XOR", "conditions": [{"field": "Source", "operator": "equals", "value": "x"}]}, "logic"),
    ("branch", {"conditions": [{"field": "Nope", "operator": "equals", "value": "x"}]}, "conditions[0].field"),
    ("branch", {"conditions": [{"field": "Score", "operator": "bigger", "value": 1}]}, "conditions[0].operator"),
    ("branch", {"conditions": [{"field": "Score", "operator": "greater_than", "value": "x"}]}, "conditions[0].value"),
    (
        "branch",
        {"conditions": [{"field": "Source", "operator": "is_empty"}], "then": [{"actionType": "nope"}]},
        "then[0].actionType",
    ),
    (
        "branch",
        {"conditions": [{"field": "Source", "operator": "is_empty"}], "then": [{"actionType": "api_call"}]},
        "then[0].actionType",
    ),
    (
        "branch",
        {"conditions": [{"field": "Source", "operator": "is_empty"}], "else": [{"actionType": "wait", "config": {}}]},
        "else[0].config.duration",
    ),
    ("create_opportunity", {"stage": "Nowhere"}, "stage"),
    ("create_opportunity", {"fields": {"Nope": 1}}, "fields.Nope"),
    ("create_project", {}, "config"),  # validated for the leads flow: not an opportunity
]


@pytest.mark.parametrize("type_name,config,field", BAD)
def test_bad_configs_name_the_setting(crm, type_name, config, field):
    with pytest.raises(StepConfigError) as caught:
        clean(type_name, config, crm)
    assert caught.value.field == field, caught.value
    assert caught.value.message


def test_branch_nested_deeper_than_five_levels_is_refused(crm):
    config = {"conditions": [{"field": "Source", "operator": "is_empty"}], "then": []}
    for _ in range(5):
        config = {
            "conditions": [{"field": "Source", "operator": "is_empty"}],
            "then": [{"actionType": "branch", "config": config}],
        }
    with pytest.raises(StepConfigError, match="nested at most 5"):
        clean("branch", config, crm)


def test_branch_without_a_flow_checks_only_the_shape(crm):
    config = {"conditions": [{"field": "anything", "operator": "equals", "value": "x"}]}
    assert clean("branch", config, flow=None)["logic"] == "AND"
    with pytest.raises(StepConfigError) as caught:
        clean("branch", {"conditions": [{"field": "x", "operator": "bigger"}]}, flow=None)
    assert caught.value.field == "conditions[0].operator"


def test_branch_keeps_the_form_of_nested_actions_and_their_secrets(crm):
    hook = {"url": "https://example.com/h", "headers": [{"name": "Authorization", "value": "Bearer t0ken"}]}
    config = {
        "conditions": [{"field": "source", "operator": "equals", "value": "web"}],
        "then": [{"actionType": "webhook", "config": hook, "sortOrder": 1}],
        "else": [{"id": "s1", "type": "add_tag", "config": {"tag": "x"}}],
    }
    cleaned = clean("branch", config, crm)
    assert cleaned["conditions"] == [{"field": "Source", "operator": "equals", "value": "web"}]
    then = cleaned["then"][0]
    assert set(then) == {"id", "actionType", "config", "sortOrder"} and then["config"]["method"] == "POST"
    assert then["id"], "a nested action without an id gets a stable one"
    assert then["config"]["headers"][0]["value"].startswith("enc:")
    assert cleaned["else"] == [{"id": "s1", "type": "add_tag", "config": {"tag": "x"}}]
    step = get_step_type("branch")
    public = step.public_config(cleaned)
    assert public["then"][0]["config"]["headers"][0]["value"] == "********"
    assert "Bearer t0ken" in step.secret_values(cleaned)
    # The masked value sent back keeps the stored secret.
    again = clean("branch", public, crm, old=cleaned)
    assert again["then"][0]["config"]["headers"][0]["value"] == then["config"]["headers"][0]["value"]


def test_branch_matches_masked_secrets_of_nested_actions_by_their_ids_never_their_place(crm):
    def hook(token):
        return {"url": "https://example.com/h", "headers": [{"name": "Authorization", "value": f"Bearer {token}"}]}

    config = {
        "conditions": [{"field": "source", "operator": "equals", "value": "web"}],
        "then": [
            {"actionType": "webhook", "config": hook("first")},
            {"actionType": "webhook", "config": hook("second")},
        ],
    }
    stored = clean("branch", config, crm)
    step = get_step_type("branch")
    first, second = step.public_config(stored)["then"]
    assert first["id"] and second["id"] and first["id"] != second["id"]
    # Swapped, both left masked: each keeps its own secret (by place they would have swapped).
    swapped = clean("branch", {**config, "then": [second, first]}, crm, old=stored)
    assert [a["id"] for a in swapped["then"]] == [second["id"], first["id"]]
    assert [step.secret_values({"then": [a]}) for a in swapped["then"]] == [
        step.secret_values({"then": [stored["then"][1]]}),
        step.secret_values({"then": [stored["then"][0]]}),
    ]
    assert "Bearer second" in step.secret_values({"then": [swapped["then"][0]]})
    # Masked, without an id or with one no stored action has: no stored secret stands behind it.
    for forged in ({k: v for k, v in first.items() if k != "id"}, {**first, "id": "forged"}):
        with pytest.raises(StepConfigError) as caught:
            clean("branch", {**config, "then": [forged]}, crm, old=stored)
        assert caught.value.field == "then[0].config.headers[0].value"
    # Actions stored before nested actions had ids are still matched by their place, once.
    legacy = {**stored, "then": [{k: v for k, v in a.items() if k != "id"} for a in stored["then"]]}
    masked = [{k: v for k, v in a.items() if k != "id"} for a in (first, second)]
    again = clean("branch", {**config, "then": masked}, crm, old=legacy)
    assert "Bearer first" in step.secret_values({"then": [again["then"][0]]}) and all(a["id"] for a in again["then"])


def test_people_are_checked_against_the_organization_only_when_known():
    cleaned = clean("assign_owner", {"userIds": [7, "12", "Someone@Example.com"]})
    assert cleaned == {"algorithm": "round_robin", "userIds": [7, "12", "someone@example.com"]}
