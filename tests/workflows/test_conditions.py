import json

import pytest

from flowsite.names import match_name, normalize_name
from workflows.conditions import MAX_CONDITIONS, MAX_DEPTH, OPERATORS, FilterError, evaluate, validate_filter

FIELDS = {
    "Company Name": "text",
    "Source": "singleSelect",
    "Amount": "currency",
    "Employees": "number",
    "Ticket": "uniqueId",
    "Expected Close Date": "date",
    "Signed At": "datetime",
    "International?": "checkbox",
    "Owner": "person",
    "Phone": "phone",
    "Products": "multipleSelect",
    "Contract": "file",
    "Notes": "longText",
}

TASK = {
    "Company Name": "Acme Corp",
    "Source": "Referral",
    "Amount": "10000.50",
    "Employees": "100",
    "Ticket": "42",
    "Expected Close Date": "2024-03-15",
    "Signed At": "2024-03-01T10:00:00Z",
    "International?": True,
    "Owner": "ada@example.com",
    "Products": ["Widgets", "Gadgets"],
    "Contract": [{"blobId": "0f" * 16, "filename": "Contract.pdf", "contentType": "application/pdf"}],
    "Notes": "",
    "Stage": "Qualified",
    "Assigned To": "Mel@Example.com",
    "Tags": ["vip", "Q1"],
    "Task URL": "https://flowsite.example/acme/sales/tasks/1",
}


def one(field: str, operator: str, value=None) -> dict:
    return {"logic": "AND", "conditions": [{"field": field, "operator": operator, "value": value}]}


def check(field: str, operator: str, value=None, values=TASK, **kwargs) -> bool:
    return evaluate(one(field, operator, value), values=values, field_types=FIELDS, **kwargs)


# --- names -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Company Name", "company_name", "companyName", "COMPANY-NAME", " company name "])
def test_normalize_name(name):
    assert normalize_name(name) == "companyname"


def test_match_name_exact_then_unique_normalized():
    assert match_name("stage", ["stage", "Stage"]) == "stage"  # exact wins
    assert match_name("STAGE", ["stage", "Stage"]) is None  # ambiguous
    assert match_name("international", ["International?"]) == "International?"
    assert match_name("nope", ["Stage"]) is None
    assert match_name("??", ["!!"]) is None  # nothing left after normalizing matches nothing


# --- every operator, true and false, type-aware ---------------------------------------------------------------

CASES = [
    # equals: text case-insensitive, numbers as Decimal, dates, aware datetimes, checkbox, person, list membership
    ("Company Name", "equals", "acme corp", True),
    ("Company Name", "equals", "  Acme Corp ", True),
    ("Company Name", "equals", "Acme", False),
    ("Amount", "equals", "10000.5", True),
    ("Amount", "equals", 10000.50, True),
    ("Employees", "equals", "100.00", True),
    ("Employees", "equals", 99, False),
    ("Ticket", "equals", 42, True),
    ("Expected Close Date", "equals", "2024-03-15", True),
    ("Expected Close Date", "equals", "2024-03-16", False),
    ("Signed At", "equals", "2024-03-01T11:00:00+01:00", True),
    ("Signed At", "equals", "2024-03-01T10:00:00", True),  # naive means UTC
    ("Signed At", "equals", "2024-03-01T10:00:00+01:00", False),
    ("International?", "equals", True, True),
    ("International?", "equals", "true", True),
    ("International?", "equals", "false", False),
    ("Owner", "equals", "ADA@example.com", True),
    ("Tags", "equals", "VIP", True),
    ("Tags", "equals", "cold", False),
    ("Tags", "equals", ["q1", "vip"], True),
    ("Tags", "equals", ["vip"], False),
    ("Notes", "equals", None, True),  # equals null means "is empty"
    ("Company Name", "equals", "", False),
    # not_equals
    ("Company Name", "not_equals", "Globex", True),
    ("Company Name", "not_equals", "ACME CORP", False),
    ("Amount", "not_equals", "10000.500", False),
    ("Amount", "not_equals", "9", True),
    ("Notes", "not_equals", "x", True),  # an empty value equals nothing
    ("Tags", "not_equals", "vip", False),
    # contains: substring for text, membership for lists, file names for files
    ("Company Name", "contains", "CORP", True),
    ("Company Name", "contains", "globex", False),
    ("Tags", "contains", "vip", True),
    ("Tags", "contains", "vi", False),
    ("Products", "contains", ["widgets", "GADGETS"], True),
    ("Products", "contains", ["widgets", "gizmos"], False),
    ("Contract", "contains", "contract", True),
    ("Contract", "contains", "invoice", False),
    ("Notes", "contains", "x", False),
    # not_contains
    ("Company Name", "not_contains", "globex", True),
    ("Company Name", "not_contains", "acme", False),
    ("Tags", "not_contains", "cold", True),
    ("Tags", "not_contains", "VIP", False),
    ("Notes", "not_contains", "x", True),
    # starts_with
    ("Company Name", "starts_with", "acme", True),
    ("Company Name", "starts_with", "corp", False),
    ("Task URL", "starts_with", "https://", True),
    ("Tags", "starts_with", "q", True),
    ("Tags", "starts_with", "x", False),
    # is_empty / is_not_empty: None, "", [], {} and missing keys are empty; False is a value
    ("Notes", "is_empty", None, True),
    ("Phone", "is_empty", None, True),  # missing from the task
    ("Company Name", "is_empty", None, False),
    ("International?", "is_empty", None, False),
    ("Company Name", "is_not_empty", None, True),
    ("Tags", "is_not_empty", None, True),
    ("Notes", "is_not_empty", None, False),
    ("Phone", "is_not_empty", None, False),
    # ordering: numbers as numbers ("100" > "20" although "100" < "20" as text), dates, datetimes
    ("Employees", "greater_than", "20", True),
    ("Employees", "greater_than", "100", False),
    ("Amount", "greater_than", 9999.99, True),
    ("Ticket", "greater_than", "9", True),
    ("Expected Close Date", "greater_than", "2024-03-01", True),
    ("Expected Close Date", "greater_than", "2024-12-01", False),
    ("Signed At", "greater_than", "2024-03-01T10:30:00+01:00", True),  # 09:30 UTC
    ("Signed At", "greater_than", "2024-03-01T10:30:00Z", False),
    ("Employees", "less_than", "9", False),
    ("Employees", "less_than", 1000, True),
    ("Expected Close Date", "less_than", "2024-04-01", True),
    ("Signed At", "less_than", "2024-03-01T09:59:59Z", False),
    ("Employees", "greater_or_equal", "100", True),
    ("Employees", "greater_or_equal", "101", False),
    ("Signed At", "greater_or_equal", "2024-03-01T10:00:00Z", True),
    ("Amount", "less_or_equal", "10000.50", True),
    ("Amount", "less_or_equal", "10000.49", False),
    ("Expected Close Date", "less_or_equal", "2024-03-14", False),
    ("Phone", "greater_than", "1", False),  # empty values are not ordered
    # in / not_in: the task value, or any of its list values, is listed
    ("Source", "in", ["referral", "Web"], True),
    ("Source", "in", ["Web"], False),
    ("Employees", "in", ["50", "100.00"], True),
    ("Expected Close Date", "in", ["2024-03-15"], True),
    ("Tags", "in", ["cold", "VIP"], True),
    ("Tags", "in", ["cold"], False),
    ("Notes", "in", ["x"], False),
    ("Source", "not_in", ["Web", "Ads"], True),
    ("Source", "not_in", ["REFERRAL"], False),
    ("Tags", "not_in", ["cold"], True),
    ("Tags", "not_in", ["q1"], False),
    ("Notes", "not_in", ["x"], True),
    # built-ins are always available
    ("Stage", "equals", "qualified", True),
    ("Assigned To", "equals", "mel@example.com", True),
    ("Assigned To", "in", ["other@example.com"], False),
]


@pytest.mark.parametrize(("field", "operator", "value", "expected"), CASES)
def test_operator(field, operator, value, expected):
    assert check(field, operator, value) is expected


def test_cases_cover_every_operator_both_ways():
    seen = {(operator, expected) for _, operator, _, expected in CASES}
    change_operators = {"changed_to", "changed_from", "any_change"}  # tested below with old values
    assert {(op, result) for op in OPERATORS if op not in change_operators for result in (True, False)} <= seen


def test_unchecked_checkbox_may_be_missing():
    values = {k: v for k, v in TASK.items() if k != "International?"}
    assert check("International?", "equals", False, values=values) is True
    assert check("International?", "equals", True, values=values) is False
    assert check("International?", "not_equals", True, values=values) is True


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("equals", "100"),
        ("not_equals", "100"),
        ("greater_than", "1"),
        ("less_than", "1000"),
        ("greater_or_equal", "1"),
        ("less_or_equal", "1000"),
        ("in", ["100"]),
        ("not_in", ["100"]),
    ],
)
def test_unparseable_task_value_makes_condition_false(operator, value):
    values = {**TASK, "Employees": "lots"}
    assert check("Employees", operator, value, values=values) is False


@pytest.mark.parametrize(
    ("field", "operator", "value"),
    [
        ("Employees", "greater_than", "many"),
        ("Employees", "equals", "many"),
        ("Employees", "not_equals", "many"),
        ("Expected Close Date", "less_than", "next week"),
        ("Signed At", "greater_than", "yesterday"),
        ("International?", "equals", "yes"),
        ("Company Name", "greater_than", "a"),  # no ordering for text
        ("Employees", "contains", "1"),  # no substring for numbers
        ("Employees", "greater_than", float("nan")),
        ("Tags", "contains", {"a": 1}),
    ],
)
def test_unparseable_condition_value_makes_condition_false(field, operator, value):
    assert check(field, operator, value) is False


@pytest.mark.parametrize("operator", OPERATORS)
@pytest.mark.parametrize("weird", [{"a": 1}, [1, [2]], object(), 10**400, float("inf"), "\x00", True, [None]])
def test_evaluation_never_raises(operator, weird):
    values = dict.fromkeys(FIELDS, weird) | {"Stage": weird, "Tags": weird}
    for field in [*FIELDS, "Stage", "Tags"]:
        for value in (weird, "1", ["1"], None):
            result = check(field, operator, value, values=values, old_values={field: weird})
            assert result in (True, False)


# --- change operators -----------------------------------------------------------------------------------------

OLD = {**TASK, "Stage": "Lead", "Amount": "500", "Employees": "100.0", "Assigned To": None}


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("Stage", "changed_to", "qualified", True),
        ("Stage", "changed_to", "Lead", False),
        ("Company Name", "changed_to", "Acme Corp", False),  # has that value but did not change
        ("Amount", "changed_to", "10000.5", True),
        ("Stage", "changed_from", "lead", True),
        ("Stage", "changed_from", "Qualified", False),
        ("Assigned To", "changed_from", None, True),  # was unassigned
        ("Amount", "changed_from", 500, True),
        ("Stage", "any_change", None, True),
        ("Amount", "any_change", None, True),
        ("Company Name", "any_change", None, False),
        ("Employees", "any_change", None, False),  # "100.0" -> "100" is the same number
        ("stage", "any_change", None, True),
    ],
)
def test_change_operators_with_old_values(field, operator, value, expected):
    assert check(field, operator, value, old_values=OLD) is expected


def test_change_operators_with_explicit_changed_set():
    assert check("Stage", "any_change", changed=["stage"]) is True
    assert check("Stage", "changed_to", "Qualified", changed=["Stage"]) is True
    assert check("Stage", "changed_from", "Lead", changed=["Stage"]) is False  # no old values to read
    assert check("Stage", "changed_from", "Lead", changed=["Stage"], old_values=OLD) is True
    assert check("Stage", "any_change", changed=["Amount"], old_values=OLD) is False  # changed wins over a diff
    assert check("Company Name", "any_change", changed=["company_name"], old_values=TASK) is True
    assert check("Stage", "any_change", changed=[]) is False


@pytest.mark.parametrize("operator", ["changed_to", "changed_from", "any_change"])
def test_change_operators_are_false_without_old_values_or_changed(operator):
    assert check("Stage", operator, "Qualified") is False


def test_new_field_value_counts_as_change():
    old = {k: v for k, v in TASK.items() if k != "Company Name"}
    assert check("Company Name", "any_change", old_values=old) is True
    assert check("Company Name", "changed_from", None, old_values=old) is True


# --- groups ---------------------------------------------------------------------------------------------------

STAGE_OK = {"field": "Stage", "operator": "equals", "value": "Qualified"}
STAGE_NO = {"field": "Stage", "operator": "equals", "value": "Lost"}


@pytest.mark.parametrize(
    ("filter_obj", "expected"),
    [
        (None, True),
        ({}, True),
        ({"logic": "OR", "conditions": []}, True),
        ({"logic": "AND", "conditions": [STAGE_OK, STAGE_OK]}, True),
        ({"logic": "AND", "conditions": [STAGE_OK, STAGE_NO]}, False),
        ({"logic": "OR", "conditions": [STAGE_NO, STAGE_OK]}, True),
        ({"logic": "OR", "conditions": [STAGE_NO, STAGE_NO]}, False),
        ({"logic": "or", "conditions": [STAGE_NO, STAGE_OK]}, True),
        ({"conditions": [STAGE_OK]}, True),  # AND by default
        (
            {
                "logic": "AND",
                "conditions": [
                    STAGE_OK,
                    {
                        "logic": "OR",
                        "conditions": [
                            {"field": "Amount", "operator": "greater_than", "value": "1000000"},
                            {"field": "Tags", "operator": "contains", "value": "vip"},
                        ],
                    },
                ],
            },
            True,
        ),
        (
            {
                "logic": "AND",
                "conditions": [
                    STAGE_OK,
                    {
                        "logic": "OR",
                        "conditions": [
                            {"field": "Amount", "operator": "greater_than", "value": "1000000"},
                            {"field": "Tags", "operator": "contains", "value": "cold"},
                        ],
                    },
                ],
            },
            False,
        ),
        # malformed input is false, never an exception
        ({"logic": "XOR", "conditions": [STAGE_OK]}, False),
        ({"logic": "AND", "conditions": [STAGE_OK, {"field": "Stage", "operator": "eq", "value": "x"}]}, False),
        ({"logic": "AND", "conditions": ["Stage = Qualified"]}, False),
        ({"logic": "AND", "conditions": "Stage"}, False),
        ({"logic": "AND", "conditions": [{"operator": "is_empty"}]}, False),
    ],
)
def test_groups(filter_obj, expected):
    assert evaluate(filter_obj, values=TASK, field_types=FIELDS) is expected


def test_absurdly_deep_unvalidated_filter_is_false_not_recursion_error():
    deep: dict = STAGE_OK
    for _ in range(5000):
        deep = {"logic": "AND", "conditions": [deep]}
    assert evaluate(deep, values=TASK, field_types=FIELDS) is False


# --- name matching --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("company_name", "Acme Corp"),
        ("companyName", "Acme Corp"),
        ("COMPANY-NAME", "Acme Corp"),
        ("source", "referral"),
        ("expected_close_date", "2024-03-15"),
        ("expectedCloseDate", "2024-03-15"),
        ("international", True),
        ("stage", "Qualified"),
        ("assigned_to", "mel@example.com"),
        ("assignedTo", "mel@example.com"),
        ("tags", "vip"),
        ("task_url", "https://flowsite.example/acme/sales/tasks/1"),
    ],
)
def test_field_names_match_snake_and_camel_case(field, value):
    assert check(field, "equals", value) is True


def test_unknown_field_reads_as_empty_at_evaluation():
    assert check("Deleted Field", "is_empty") is True
    assert check("Deleted Field", "equals", "x") is False


# --- validation -----------------------------------------------------------------------------------------------


def test_validate_normalizes():
    normalized = validate_filter(
        {
            "logic": "or",
            "conditions": [
                {"field": "source", "operator": "notEquals", "value": "Web"},
                {"field": "international", "operator": "equals", "value": "true"},
                {"field": "company_name", "operator": "IS_EMPTY", "value": "leftover"},
                {"logic": "and", "conditions": [{"field": "assigned_to", "operator": "any_change"}]},
            ],
        },
        FIELDS,
    )
    assert normalized == {
        "logic": "OR",
        "conditions": [
            {"field": "Source", "operator": "not_equals", "value": "Web"},
            {"field": "International?", "operator": "equals", "value": True},
            {"field": "Company Name", "operator": "is_empty", "value": None},
            {"logic": "AND", "conditions": [{"field": "Assigned To", "operator": "any_change", "value": None}]},
        ],
    }
    json.dumps(normalized)
    assert evaluate(normalized, values=TASK, field_types=FIELDS) is True


@pytest.mark.parametrize("empty", [None, {}])
def test_validate_empty_filter(empty):
    assert validate_filter(empty, FIELDS) == {"logic": "AND", "conditions": []}


@pytest.mark.parametrize(
    ("condition", "path", "message"),
    [
        ({"field": "sorce", "operator": "equals", "value": "x"}, "field", 'unknown field "sorce"'),
        ({"operator": "equals", "value": "x"}, "field", "field is required"),
        ({"field": "Source", "operator": "eq", "value": "x"}, "operator", 'unknown operator "eq"'),
        ({"field": "Source", "value": "x"}, "operator", "operator is required"),
        ({"field": "Source", "operator": "in", "value": "Web"}, "value", "in needs a list value"),
        ({"field": "Source", "operator": "not_in", "value": []}, "value", "not_in needs at least one value"),
        ({"field": "Amount", "operator": "in", "value": ["1", "a"]}, "value", "in needs a list of numbers for field"),
        ({"field": "Source", "operator": "in", "value": [["Web"]]}, "value", "in needs a list of text values"),
        ({"field": "Amount", "operator": "greater_than", "value": "lots"}, "value", "greater_than needs a number"),
        ({"field": "Amount", "operator": "less_than"}, "value", "less_than needs a number for field Amount"),
        ({"field": "Amount", "operator": "equals", "value": True}, "value", "equals needs a number for field Amount"),
        (
            {"field": "Expected Close Date", "operator": "less_than", "value": "next week"},
            "value",
            "less_than needs a date (YYYY-MM-DD) for field Expected Close Date",
        ),
        (
            {"field": "Signed At", "operator": "greater_or_equal", "value": "noon"},
            "value",
            "greater_or_equal needs a date with time (ISO 8601) for field Signed At",
        ),
        (
            {"field": "Company Name", "operator": "greater_than", "value": "a"},
            "operator",
            "greater_than does not work on text field Company Name",
        ),
        (
            {"field": "International?", "operator": "starts_with", "value": "t"},
            "operator",
            "starts_with does not work on checkbox field International?",
        ),
        (
            {"field": "International?", "operator": "equals", "value": "yes"},
            "value",
            "equals needs true or false for field International?",
        ),
        ({"field": "Company Name", "operator": "contains", "value": ["a"]}, "value", "contains needs a text value"),
        ({"field": "Company Name", "operator": "contains", "value": ""}, "value", "contains needs a text value"),
        ({"field": "Company Name", "operator": "equals", "value": {"a": 1}}, "value", "equals needs a single value"),
        ({"field": "Stage", "operator": "changed_to", "value": ["a"]}, "value", "changed_to needs a single value"),
    ],
)
def test_validate_condition_errors(condition, path, message):
    with pytest.raises(FilterError) as caught:
        validate_filter({"logic": "AND", "conditions": [STAGE_OK, condition]}, FIELDS)
    reasons = caught.value.errors[f"conditions[1].{path}"]
    assert any(message in reason for reason in reasons), reasons
    assert list(caught.value.errors) == [f"conditions[1].{path}"]  # the valid first condition is fine


@pytest.mark.parametrize(
    ("filter_obj", "path", "message"),
    [
        ({"logic": "XOR", "conditions": [STAGE_OK]}, "logic", "logic must be AND or OR"),
        ({"logic": 1, "conditions": [STAGE_OK]}, "logic", "logic must be AND or OR"),
        ({"logic": "AND", "conditions": "Stage"}, "conditions", "conditions must be a list"),
        ({"field": "Stage", "operator": "is_empty"}, "conditions", "conditions must be a list"),
        ({"logic": "AND", "conditions": ["Stage"]}, "conditions[0]", "must be a condition or a group"),
        ({"logic": "AND", "conditions": [{"logic": "OR", "conditions": []}]}, "conditions[0].conditions", "at least"),
        (
            {"logic": "AND", "conditions": [STAGE_OK, {"logic": "OR", "conditions": [{"field": "Stage"}]}]},
            "conditions[1].conditions[0].operator",
            "operator is required",
        ),
        (
            {"logic": "AND", "conditions": [STAGE_OK, {"logic": "maybe", "conditions": [STAGE_OK]}]},
            "conditions[1].logic",
            "logic must be AND or OR",
        ),
        ([STAGE_OK], "filter", "filter must be an object"),
        ("Stage = Lead", "filter", "filter must be an object"),
    ],
)
def test_validate_group_errors(filter_obj, path, message):
    with pytest.raises(FilterError) as caught:
        validate_filter(filter_obj, FIELDS)
    assert any(message in reason for reason in caught.value.errors[path]), caught.value.errors


def test_validate_reports_all_errors_at_once():
    with pytest.raises(FilterError) as caught:
        validate_filter(
            {
                "logic": "AND",
                "conditions": [
                    {"field": "sorce", "operator": "equals", "value": "x"},
                    {"field": "Amount", "operator": "eq", "value": 1},
                ],
            },
            FIELDS,
        )
    assert set(caught.value.errors) == {"conditions[0].field", "conditions[1].operator"}
    assert isinstance(caught.value, ValueError) and "sorce" in str(caught.value)


def test_validate_ambiguous_field():
    with pytest.raises(FilterError) as caught:
        validate_filter(one("REGION", "is_empty"), {"Region": "text", "region": "text"})
    assert "ambiguous" in caught.value.errors["conditions[0].field"][0]
    assert validate_filter(one("region", "is_empty"), {"Region": "text", "region": "text"})  # exact name is fine


def nested(levels: int) -> dict:
    group: dict = {"logic": "AND", "conditions": [STAGE_OK]}
    for _ in range(levels - 1):
        group = {"logic": "AND", "conditions": [group]}
    return group


def test_depth_limit():
    assert evaluate(validate_filter(nested(MAX_DEPTH), FIELDS), values=TASK, field_types=FIELDS) is True
    with pytest.raises(FilterError) as caught:
        validate_filter(nested(MAX_DEPTH + 1), FIELDS)
    path = ".".join(["conditions[0]"] * MAX_DEPTH)
    assert caught.value.errors == {path: [f"groups can be nested at most {MAX_DEPTH} levels deep"]}


def test_condition_count_limit():
    validate_filter({"logic": "AND", "conditions": [STAGE_OK] * MAX_CONDITIONS}, FIELDS)
    with pytest.raises(FilterError) as caught:
        validate_filter(
            {"logic": "OR", "conditions": [{"logic": "AND", "conditions": [STAGE_OK] * MAX_CONDITIONS}, STAGE_OK]},
            FIELDS,
        )
    assert caught.value.errors == {"conditions": [f"a filter can have at most {MAX_CONDITIONS} conditions"]}
    with pytest.raises(FilterError):
        validate_filter({"logic": "AND", "conditions": [STAGE_OK] * 1_000_000}, FIELDS)


@pytest.mark.parametrize("operator", ["is_empty", "is_not_empty", "any_change"])
def test_operators_without_value_need_none(operator):
    assert validate_filter(one("Amount", operator), FIELDS)["conditions"][0]["value"] is None


@pytest.mark.parametrize(
    ("field", "operator", "value"),
    [
        ("Amount", "greater_than", 10),
        ("Amount", "less_or_equal", "10000.50"),
        ("Expected Close Date", "greater_or_equal", "2024-01-01"),
        ("Signed At", "less_than", "2024-01-01T00:00:00Z"),
        ("Tags", "equals", ["vip", "Q1"]),
        ("Tags", "contains", ["vip"]),
        ("Stage", "changed_from", None),
        ("Stage", "changed_to", "Won"),
        ("Contract", "contains", "pdf"),
        ("Employees", "in", [1, "2", 3.5]),
        ("Unknown Type", "equals", "x"),
    ],
)
def test_validate_accepts(field, operator, value):
    field_types = {**FIELDS, "Unknown Type": "weirdType"}  # unknown types fall back to text
    normalized = validate_filter(one(field, operator, value), field_types)
    assert normalized["conditions"][0] == {"field": field, "operator": operator, "value": value}
