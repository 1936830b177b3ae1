"""'Send test request' in the workflow editor: the webhook's own request for the newest record,
sent to a loopback receiver through the real URL layer, a stored secret kept when left masked,
nothing saved and no run started."""

import html as htmllib
import json

import pytest

from actions.models import Run
from tests.receivers import Receiver
from tests.signatures import assert_signed
from tests.workflows.test_pages import HX, base_form, client_for, form_values
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    with Receiver() as r:
        r.set_response(status=201, body=b'{"ok": "seen"}', headers={"Content-Type": "application/json", "X-Seen": "1"})
        yield r


def saved(crm, receiver) -> Workflow:
    form = base_form(
        **{
            "actions[0].actionType": "webhook",
            "actions[0].config.url": receiver.url_for("/hooks/top"),
            "actions[0].config.method": "POST",
            "actions[0].config.headers[0].name": "Authorization",
            "actions[0].config.headers[0].value": "Bearer top-secret",
            "actions[0].config.headers[0].secret:bool": ["0", "1"],
            "actions[0].config.body": '{"lead": "{{trigger.Company Name}}"}',
            "actions[1].actionType": "branch",
            "actions[1].config.logic": "AND",
            "actions[1].config.conditions[0].field": "Source",
            "actions[1].config.conditions[0].operator": "equals",
            "actions[1].config.conditions[0].value": "website",
            "actions[1].config.then[0].actionType": "webhook",
            "actions[1].config.then[0].config.url": receiver.url_for("/hooks/nested"),
            "actions[1].config.then[0].config.method": "PUT",
            "actions[1].config.then[0].config.headers[0].name": "X-Key",
            "actions[1].config.then[0].config.headers[0].value": "nested-secret",
            "actions[1].config.then[0].config.headers[0].secret:bool": ["0", "1"],
        }
    )
    response = client_for(crm.world.admin).post("/organizations/acme/workflows/new", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    return Workflow.objects.get()


def test_send_test_request_runs_the_webhooks_own_request_and_keeps_masked_secrets(crm, receiver):
    workflow = saved(crm, receiver)
    lead = crm.lead(**{"Company Name": "Trial Co"})
    admin = client_for(crm.world.admin)
    url = f"/organizations/acme/workflows/{workflow.pk}"
    page = admin.get(url).content.decode()
    assert page.count(">Send test request</button>") == 2 and "top-secret" not in page
    form = form_values(page)

    response = admin.post(url, {**form, "op": "try:actions[0]"}, **HX)
    assert response.status_code == 200
    html = htmllib.unescape(response.content.decode())
    [request] = receiver.requests
    assert request.path == "/hooks/top" and request.headers["Authorization"] == "Bearer top-secret"
    assert json.loads(request.body) == {"lead": "Trial Co"}
    assert_signed(request, secret=crm.leads.signing_secret)
    assert f"Sent for #{lead.pk} in Leads" in html
    assert ">201</span>" in html and "<dt>x-seen</dt>" in html and '{"ok": "seen"}' in html
    assert "top-secret" not in html and 'id="actions"' in html

    # A webhook inside a branch: found by its path, its stored secret kept too.
    response = admin.post(url, {**form, "op": "try:actions[1].config.then[0]"}, **HX)
    assert response.status_code == 200
    nested = receiver.requests[1]
    assert (nested.method, nested.path, nested.headers["X-Key"]) == ("PUT", "/hooks/nested", "nested-secret")
    assert json.loads(nested.body)["task"]["Company Name"] == "Trial Co"
    assert "nested-secret" not in response.content.decode()

    # An unsaved action added above it: the webhook, now second, is found in the stored config by
    # its id, not its place, and its masked secret is still the stored one.
    then = "actions[1].config.then"
    moved = {key.replace(f"{then}[0].", f"{then}[1].", 1): value for key, value in form.items()}
    moved.update({f"{then}[0].actionType": "add_tag", f"{then}[0].config.tags": "x"})
    response = admin.post(url, {**moved, "op": f"try:{then}[1]"}, **HX)
    assert response.status_code == 200
    assert receiver.requests[2].headers["X-Key"] == "nested-secret"

    # Nothing was saved, nothing ran.
    workflow.refresh_from_db()
    assert workflow.version == 1 and not Run.objects.filter(workflow=workflow).exists()


def test_send_test_request_says_what_is_wrong(crm, receiver):
    workflow = saved(crm, receiver)
    admin = client_for(crm.world.admin)
    url = f"/organizations/acme/workflows/{workflow.pk}"
    form = form_values(admin.get(url).content.decode())
    # No record to send yet.
    html = htmllib.unescape(admin.post(url, {**form, "op": "try:actions[0]"}, **HX).content.decode())
    assert "There is no record to try it with yet" in html and not receiver.requests
    crm.lead()
    # A URL that is no URL, as typed and not yet saved.
    form["actions[0].config.url"] = ["ftp://example.com/x"]
    html = htmllib.unescape(admin.post(url, {**form, "op": "try:actions[0]"}, **HX).content.decode())
    assert "url: must be an http:// or https:// URL" in html and not receiver.requests
    # Members may look but not try.
    member = client_for(crm.world.member)
    assert member.post(url, {**form, "op": "try:actions[0]"}, **HX).status_code == 403
