"""`make run`'s demo data: the demo_setup command (in the top app, which may import every app)."""

from io import StringIO

import pytest
from django.core.management import call_command

from actions.models import Action
from tasks.models import Task

pytestmark = pytest.mark.django_db


def test_demo_setup_creates_a_flow_people_can_use_and_runs_again_without_duplicates(client, settings):
    # As bin/run sets it: the demo's API Call targets Flowsite's own echo endpoint on loopback, and a
    # step aimed at an address the policy refuses cannot be saved.
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    out = StringIO()
    call_command("demo_setup", stdout=out)
    call_command("demo_setup", stdout=StringIO())

    assert "demo@example.com" in out.getvalue() and "/flows/demo/sales-pipeline" in out.getvalue()
    assert Task.objects.filter(flow__parameterized_name="sales-pipeline").count() == 3
    assert sorted(Action.objects.values_list("name", flat=True)) == ["Finish", "Start"]

    assert client.post("/login", {"username": "demo@example.com", "password": "flowsite-demo"}).status_code == 302
    html = client.get("/flows/demo/sales-pipeline").content.decode()
    assert "Acme Corp" in html and "Globex" in html and "Initech" in html
    # The board's cards show the actions' buttons (registered by actions in tasks).
    assert 'data-action="Start"' in html and 'data-action="Finish"' in html
