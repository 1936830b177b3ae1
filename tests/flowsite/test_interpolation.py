import json
from urllib.parse import unquote, urlsplit

import pytest

from flowsite.interpolation import interpolate, interpolate_data, interpolate_url, references, unknown_references

TASK = {
    "Company Name": "Acme Corp",
    "International?": True,
    "Amount": "10000.50",
    "Products": ["Widgets", "Gadgets"],
    "Contract": [{"blobId": "ab" * 16, "filename": "contract.pdf", "contentType": "application/pdf"}],
    "Notes": None,
    "Stage": "Qualified",
    "Assigned To": "mel@example.com",
    "Task URL": "https://flowsite.example/acme/sales/tasks/7",
    "Tags": ["vip", "Q1"],
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{trigger.companyName}}", "Acme Corp"),
        ("{{trigger.company_name}}", "Acme Corp"),
        ("{{ trigger.CompanyName }}", "Acme Corp"),
        ("{{  trigger.COMPANY_NAME\t}}", "Acme Corp"),
        ("{{trigger.international}}", "true"),
        ("{{trigger.amount}}", "10000.50"),
        ("Hello {{trigger.company_name}}, stage {{trigger.stage}}!", "Hello Acme Corp, stage Qualified!"),
        ("{{trigger.stage}}", "Qualified"),
        ("{{trigger.assigned_to}}", "mel@example.com"),
        ("{{trigger.assignedTo}}", "mel@example.com"),
        ("{{trigger.url}}", "https://flowsite.example/acme/sales/tasks/7"),
        ("{{trigger.task_url}}", "https://flowsite.example/acme/sales/tasks/7"),
        ("{{trigger.tags}}", "vip, Q1"),
        ("{{trigger.products}}", "Widgets, Gadgets"),
        ("{{trigger.contract}}", "contract.pdf"),
        ("[{{trigger.notes}}]", "[]"),
        ("no placeholders", "no placeholders"),
        ("", ""),
    ],
)
def test_lookup(template, expected):
    assert interpolate(template, TASK) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{trigger.unknown_field}}",
        "{{trigger.__class__}}",
        "{{trigger.__init__.__globals__}}",
        "{{trigger.company_name.upper}}",
        "{{trigger.a.b}}",
        "{{ other.company_name }}",
        "{{company_name}}",
        "{{trigger.}}",
        "{{trigger.1abc}}",
        "{{trigger['Company Name']}}",
        "{{trigger.company_name|upper}}",
        "{% for x in trigger %}{{ x }}{% endfor %}",
        "{trigger.company_name}",
        "{{{trigger.__class__}}}",
        "${trigger.company_name}",
    ],
)
def test_anything_else_stays_literal(template):
    assert interpolate(template, TASK) == template


def test_triple_braces_only_replace_the_inner_placeholder():
    assert interpolate("{{{trigger.stage}}}", TASK) == "{Qualified}"


def test_dunder_never_reaches_python_objects_even_with_a_matching_field():
    task = {"Class": "economy", "Globals": "g"}
    assert interpolate("{{trigger.__class__}} {{trigger.class}}", task) == "{{trigger.__class__}} economy"


def test_inserted_values_are_not_expanded_again():
    task = {"Name": "{{trigger.secret}}", "Secret": "s3cret", "Other": "{{ trigger.name }}"}
    assert interpolate("{{trigger.name}}", task) == "{{trigger.secret}}"
    assert interpolate("{{trigger.other}}|{{trigger.name}}", task) == "{{ trigger.name }}|{{trigger.secret}}"
    assert interpolate_data({"a": "{{trigger.name}}"}, task) == {"a": "{{trigger.secret}}"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["a", "b"], "a, b"),
        ([], ""),
        (True, "true"),
        (False, "false"),
        (None, ""),
        (42, "42"),
        (1.5, "1.5"),
        ([True, None, 3], "true, 3"),
        ({"k": "v"}, '{"k": "v"}'),
    ],
)
def test_value_formatting(value, expected):
    assert interpolate("{{trigger.x}}", {"X": value}) == expected


def test_missing_key_stays_literal_but_null_value_is_empty():
    assert interpolate("{{trigger.stage}}", {}) == "{{trigger.stage}}"
    assert interpolate("{{trigger.stage}}", {"Stage": None}) == ""


def test_exact_key_wins_over_specials_and_normalized_matches():
    task = {"url": "field value", "Task URL": "task link", "Stage": "s", "stage": "lower"}
    assert interpolate("{{trigger.url}}", task) == "field value"
    assert interpolate("{{trigger.stage}}", task) == "lower"
    assert interpolate("{{trigger.STAGE}}", task) == "s"  # the special picks the built-in over the ambiguity


def test_id_and_extra():
    assert interpolate("/tasks/{{trigger.id}}", TASK, extra={"id": 7}) == "/tasks/7"
    assert interpolate("/tasks/{{trigger.id}}", TASK) == "/tasks/{{trigger.id}}"
    assert interpolate("{{trigger.ID}}", {"ID": "field"}) == "field"
    assert interpolate("{{trigger.flow_name}}", TASK, extra={"Flow Name": "Sales"}) == "Sales"


def test_encode_is_applied_to_each_inserted_value_only():
    assert interpolate("<{{trigger.stage}}>", TASK, encode=str.upper) == "<QUALIFIED>"


def test_ambiguous_names_stay_literal():
    assert interpolate("{{trigger.region}}", {"Region": "a", "REGION": "b"}) == "{{trigger.region}}"


# --- URLs -----------------------------------------------------------------------------------------------------


def test_interpolate_url_encodes_values():
    url = interpolate_url("https://api.example.com/companies/{{trigger.company_name}}?stage={{trigger.stage}}", TASK)
    assert url == "https://api.example.com/companies/Acme%20Corp?stage=Qualified"


@pytest.mark.parametrize(
    "hostile",
    [
        "../../admin",
        "..",
        ".",
        "x/../../admin?debug=1#frag",
        "evil.com/",
        "@evil.com",
        "user:pass@evil.com",
        "a?b=c&d=e",
        "#fragment",
        "%2e%2e%2f",
        "\\evil.com",
        "a b\r\nHost: evil",
    ],
)
def test_url_values_cannot_change_host_path_or_query(hostile):
    task = {"Name": hostile}
    url = interpolate_url("https://api.example.com/items/{{trigger.name}}?q={{trigger.name}}", task)
    parts = urlsplit(url)
    assert parts.scheme == "https"
    assert parts.netloc == "api.example.com"
    assert parts.path.count("/") == 2 and parts.path.startswith("/items/")
    segment = parts.path.removeprefix("/items/")
    assert segment not in (".", "..") and "/" not in segment and "." not in segment
    assert "&" not in parts.query and parts.query.startswith("q=")
    assert parts.fragment == ""
    assert unquote(segment) == hostile  # the value itself arrives intact
    assert not any(char in url for char in " \r\n\\")


def test_url_value_in_host_position_stays_under_the_templates_domain():
    url = interpolate_url("https://{{trigger.name}}.example.com/", {"Name": "evil.com/x?"})
    assert urlsplit(url).netloc == "evil%2Ecom%2Fx%3F.example.com"
    assert urlsplit(url).path == "/"


def test_url_template_text_is_not_encoded():
    assert interpolate_url("https://x.example/a/b?c=d&e={{trigger.id}}", {}, extra={"id": 5}) == (
        "https://x.example/a/b?c=d&e=5"
    )


# --- JSON data ------------------------------------------------------------------------------------------------


def test_interpolate_data_walks_values_not_keys():
    data = {
        "{{trigger.stage}}": "{{trigger.stage}}",
        "nested": [{"name": "{{trigger.company_name}}", "n": 3, "ok": True, "none": None}],
        "tuple": ("{{trigger.tags}}",),
    }
    assert interpolate_data(data, TASK) == {
        "{{trigger.stage}}": "Qualified",
        "nested": [{"name": "Acme Corp", "n": 3, "ok": True, "none": None}],
        "tuple": ["vip, Q1"],
    }


def test_interpolate_data_does_not_mutate_input():
    data = {"a": ["{{trigger.stage}}"]}
    interpolate_data(data, TASK)
    assert data == {"a": ["{{trigger.stage}}"]}


@pytest.mark.parametrize(
    "hostile",
    ['", "admin": true, "x": "', "}", '"}', "\\", '\\"}, {"', "\n\t\x00", "{{trigger.stage}}"],
)
def test_json_data_stays_valid_json(hostile):
    data = {"name": "{{trigger.name}}", "note": 'prefix "{{trigger.name}}" suffix', "admin": False}
    body = json.dumps(interpolate_data(data, {"Name": hostile}))
    decoded = json.loads(body)
    assert set(decoded) == {"name", "note", "admin"}
    assert decoded["name"] == hostile
    assert decoded["note"] == f'prefix "{hostile}" suffix'
    assert decoded["admin"] is False


# --- references -----------------------------------------------------------------------------------------------


def test_references():
    assert references("{{trigger.companyName}} {{ trigger.stage }} {{trigger.__class__}} {{other.x}}") == {
        "companyName",
        "stage",
    }
    data = {"url": "/{{trigger.id}}", "body": [{"x": "{{trigger.amount}}"}, 5, None], "{{trigger.key}}": "k"}
    assert references(data) == {"id", "amount"}  # keys are never interpolated, so never referenced
    assert references(None) == set()


def test_unknown_references():
    data = {"a": "{{trigger.company_name}} {{trigger.stage}} {{trigger.url}} {{trigger.id}} {{trigger.sorce}}"}
    assert unknown_references(data, ["Company Name", "Source"]) == {"sorce"}
    assert unknown_references("{{trigger.id}}", [], has_id=False) == {"id"}
    assert unknown_references("{{trigger.assignedTo}} {{trigger.tags}}", []) == set()


@pytest.mark.parametrize(
    "template", ["{{trigger.Company Name}}", "{{ trigger.company name }}", "{{trigger.companyName}}"]
)
def test_names_as_written_with_spaces(template):
    assert interpolate(template, TASK) == "Acme Corp"
