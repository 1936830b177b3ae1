"""Messages: in-app notifications, email (locmem backend), SMS and WhatsApp through the twilio library
against a fake Twilio API on loopback."""

import base64
import json
import logging
from urllib.parse import parse_qs

import pytest
from django.core import mail
from django.db import connection

from actions.models import Run
from flows.models import FlowMembership
from flowsite.secrets import encrypt
from tasks.models import Notification
from tasks.services import task_set_assignee
from tests.database import database_text
from tests.receivers import Receiver, Reply, reset_connection
from tests.workflows.conftest import run_workflow, step_error

pytestmark = pytest.mark.django_db

SID = "AC" + "1" * 32
TOKEN = "twilio-auth-token-very-secret"


# --- send_notification -------------------------------------------------------------------------


def test_notification_to_listed_people_and_the_owner(crm):
    lead = crm.lead()
    task_set_assignee(task=lead, actor=None, assignee=crm.reps[2], source="api")
    config = {
        "userIds": [crm.reps[0].pk, "rep2@example.com"],
        "toOwner": True,
        "title": "New lead",
        "message": "{{trigger.companyName}} came in via {{trigger.source}}",
    }
    run = run_workflow(lead, [{"actionType": "send_notification", "config": config}])
    assert run.status == Run.Status.SUCCESS
    notes = Notification.objects.filter(kind="workflow").order_by("user_id")
    assert [n.user for n in notes] == crm.reps
    assert {n.message for n in notes} == {"New lead: Acme Corp came in via website"}
    assert all(n.task_id == lead.pk and n.url.endswith(f"/tasks/{lead.pk}") for n in notes)


def test_notification_skips_people_who_left_and_an_unassigned_owner(crm):
    lead = crm.lead()
    FlowMembership.objects.filter(flow=crm.leads, user=crm.reps[0]).delete()
    config = {"userIds": [crm.reps[0].pk], "toOwner": True, "message": "hi"}
    run = run_workflow(lead, [{"actionType": "send_notification", "config": config}])
    assert run.status == Run.Status.SUCCESS
    assert not Notification.objects.exists()
    assert run.step_runs.get().output["notified"] == []


# --- send_email --------------------------------------------------------------------------------


def test_email_to_addresses_owner_and_a_field(crm):
    lead = crm.lead()
    task_set_assignee(task=lead, actor=None, assignee=crm.reps[0], source="api")
    config = {
        "to": ["boss@example.com", "owner", "{{trigger.email}}"],
        "subject": "Lead {{trigger.companyName}}\nBcc: evil@example.com",
        "body": "Source: {{trigger.source}}",
    }
    run = run_workflow(lead, [{"actionType": "send_email", "config": config}])
    assert run.status == Run.Status.SUCCESS
    [message] = mail.outbox
    assert message.to == ["boss@example.com", "rep1@example.com", "buyer@acme.test"]
    assert message.subject == "Lead Acme Corp Bcc: evil@example.com"
    assert message.body == "Source: website"
    assert not message.bcc


def test_email_to_a_field_that_is_no_address_fails(crm):
    lead = crm.lead()
    config = {"to": ["{{trigger.source}}"], "subject": "s", "body": "b"}
    run = run_workflow(lead, [{"actionType": "send_email", "config": config}])
    assert run.status == Run.Status.FAIL and '"website" is not an email address' in step_error(run)
    assert not mail.outbox


def test_email_backend_failure_fails_the_step(crm, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # discard port: nothing listens
    run = run_workflow(
        crm.lead(), [{"actionType": "send_email", "config": {"to": "a@b.test", "subject": "s", "body": "b"}}]
    )
    assert run.status == Run.Status.FAIL and "the email could not be sent" in step_error(run)


# --- send_sms / send_whatsapp ------------------------------------------------------------------


class FakeTwilio:
    def __init__(self):
        self.status = 201
        self.error = None

    def __call__(self, req):
        if self.error is not None:
            return Reply(400, json.dumps(self.error).encode(), {"Content-Type": "application/json"})
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        resource = {
            "sid": "SM" + "f" * 32,
            "account_sid": SID,
            "status": "queued",
            "to": form.get("To"),
            "from": form.get("From"),
            "body": form.get("Body"),
            "num_segments": "1",
            "direction": "outbound-api",
            "uri": f"/2010-04-01/Accounts/{SID}/Messages/SM{'f' * 32}.json",
        }
        return Reply(201, json.dumps(resource).encode(), {"Content-Type": "application/json"})


@pytest.fixture
def twilio(settings):
    fake = FakeTwilio()
    with Receiver(handler=fake) as receiver:
        settings.TWILIO_API_BASE = receiver.url
        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = SID, TOKEN
        settings.TWILIO_FROM_NUMBER, settings.TWILIO_WHATSAPP_FROM = "+15550001111", "+15550002222"
        fake.receiver = receiver
        yield fake


def sent_form(twilio):
    [request] = twilio.receiver.wait_for_requests(1)
    assert request.method == "POST" and request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    return request, {k: v[0] for k, v in parse_qs(request.body.decode()).items()}


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_sms_to_the_lead_phone(crm, twilio):
    lead = crm.lead(Phone="+1 (555) 123-4567")
    config = {"to": "{{trigger.phone}}", "body": "Hi {{trigger.companyName}}, thanks!"}
    run = run_workflow(lead, [{"actionType": "send_sms", "config": config}])
    assert run.status == Run.Status.SUCCESS, step_error(run)
    request, form = sent_form(twilio)
    assert form == {"To": "+15551234567", "From": "+15550001111", "Body": "Hi Acme Corp, thanks!"}
    assert request.headers["Authorization"] == basic(SID, TOKEN)
    step = run.step_runs.get()
    assert step.output["sid"].startswith("SM") and step.output["status"] == "queued"
    assert TOKEN not in json.dumps([step.request, step.response, step.output])


def test_whatsapp_prefixes_both_numbers(crm, twilio):
    run = run_workflow(crm.lead(), [{"actionType": "send_whatsapp", "config": {"to": "+15557654321", "body": "Hello"}}])
    assert run.status == Run.Status.SUCCESS, step_error(run)
    _, form = sent_form(twilio)
    assert form == {"To": "whatsapp:+15557654321", "From": "whatsapp:+15550002222", "Body": "Hello"}


def test_organization_credentials_win_over_settings(crm, twilio):
    org_sid = "AC" + "2" * 32
    crm.org.twilio_account_sid, crm.org.twilio_auth_token = org_sid, "org-token"
    crm.org.twilio_from_number = "+15559998888"
    crm.org.save()
    run = run_workflow(crm.lead(), [{"actionType": "send_sms", "config": {"to": "+15557654321", "body": "x"}}])
    [request] = twilio.receiver.wait_for_requests(1)
    assert request.path == f"/2010-04-01/Accounts/{org_sid}/Messages.json"
    assert request.headers["Authorization"] == basic(org_sid, "org-token")
    assert parse_qs(request.body.decode())["From"] == ["+15559998888"]
    assert run.status == Run.Status.SUCCESS


def test_twilio_error_fails_with_its_message_and_no_token(crm, twilio):
    twilio.error = {
        "code": 21211,
        "message": "The 'To' number is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }
    run = run_workflow(crm.lead(), [{"actionType": "send_sms", "config": {"to": "+15557654321", "body": "x"}}])
    assert run.status == Run.Status.FAIL
    error = step_error(run)
    assert "The 'To' number is not a valid phone number." in error and "21211" in error
    step = run.step_runs.get()
    assert TOKEN not in json.dumps([step.error, step.request, step.response, run.errors])


def test_unreachable_twilio_fails(crm, twilio):
    twilio.receiver.set_handler(reset_connection)
    run = run_workflow(crm.lead(), [{"actionType": "send_sms", "config": {"to": "+15557654321", "body": "x"}}])
    assert run.status == Run.Status.FAIL and "Twilio could not be reached" in step_error(run)


def test_missing_credentials_fail_clearly(crm, twilio, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    run = run_workflow(crm.lead(), [{"actionType": "send_sms", "config": {"to": "+15557654321", "body": "x"}}])
    assert run.status == Run.Status.FAIL and "Twilio is not configured" in step_error(run)
    assert not twilio.receiver.requests


def test_a_field_that_is_no_phone_number_fails_before_calling_twilio(crm, twilio):
    lead = crm.lead(Phone="")
    run = run_workflow(lead, [{"actionType": "send_sms", "config": {"to": "{{trigger.phone}}", "body": "x"}}])
    assert run.status == Run.Status.FAIL and "is not a phone number" in step_error(run)
    assert not twilio.receiver.requests


def test_the_organization_token_is_stored_encrypted_and_kept_out_of_records_logs_and_answers(crm, twilio, caplog, api):
    caplog.set_level(logging.DEBUG)
    org_sid, org_token = "AC" + "3" * 32, "org-twilio-token-kept-secret"
    crm.org.twilio_account_sid, crm.org.twilio_auth_token = org_sid, org_token
    crm.org.twilio_from_number = "+15559998888"
    crm.org.save()
    assert org_token not in database_text()

    sent = run_workflow(crm.lead(), [{"actionType": "send_sms", "config": {"to": "+15557654321", "body": "x"}}])
    assert sent.status == Run.Status.SUCCESS, step_error(sent)
    [request] = twilio.receiver.wait_for_requests(1)
    assert request.headers["Authorization"] == basic(org_sid, org_token)  # decrypted where it is used
    twilio.error = {"code": 20003, "message": f"Authenticate with {org_token}", "status": 401}
    failed = run_workflow(crm.lead(), [{"actionType": "send_whatsapp", "config": {"to": "+15557654321", "body": "x"}}])
    assert failed.status == Run.Status.FAIL and "Authenticate with [redacted]" in step_error(failed)

    client = api(crm.world.admin)
    traces = [
        database_text(),  # runs, step records, notifications, task events, the queue
        caplog.text,
        client.get(f"/api/workflows/runs/{sent.pk}").content.decode(),
        client.get(f"/api/workflows/runs/{failed.pk}").content.decode(),
    ]
    assert all(org_token not in trace for trace in traces)


def test_a_token_that_cannot_be_decrypted_fails_the_step_and_asks_for_it_again(crm, twilio, settings):
    crm.org.twilio_account_sid = "AC" + "4" * 32
    crm.org.save()
    original = settings.SECRET_KEY
    settings.SECRET_KEY = "a-key-that-was-rotated-away-long-ago"
    unreadable = encrypt("old-token")
    settings.SECRET_KEY = original
    with connection.cursor() as cursor:
        cursor.execute("UPDATE flows_organization SET twilio_auth_token = %s WHERE id = %s", [unreadable, crm.org.pk])
    run = run_workflow(crm.lead(), [{"actionType": "send_sms", "config": {"to": "+15557654321", "body": "x"}}])
    assert run.status == Run.Status.FAIL
    assert "the organization's Twilio auth token cannot be read; enter it again" in step_error(run)
    assert not twilio.receiver.requests
