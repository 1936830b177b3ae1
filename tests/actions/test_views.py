"""Performing an action from the browser, through the HTMX endpoints (the real browser test lives
with the builder's end-to-end tests)."""

import pytest

from actions.engine import run_execute
from actions.models import Run
from tasks.models import Notification

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def test_perform_shows_progress_then_success(seed, client, receiver):
    action = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    client.force_login(seed.world.flow_member)
    url = f"/flows/acme/sales/tasks/{seed.task.pk}/actions/{action.pk}/perform"
    response = client.post(url, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    run = Run.objects.get()
    assert 'data-status="pending"' in html and f"/flows/acme/sales/runs/{run.pk}" in html
    run_execute(run.pk)
    response = client.get(f"/flows/acme/sales/runs/{run.pk}", **HX)
    assert 'data-status="success"' in response.content.decode()
    assert "task-updated" in response["HX-Trigger"]


def test_perform_failure_names_the_step(seed, client, receiver):
    receiver.set_response(status=500, body=b"nope")
    action = seed.action("Finish", [{"type": "api_call", "config": {"url": receiver.url}}])
    client.force_login(seed.world.flow_member)
    client.post(f"/flows/acme/sales/tasks/{seed.task.pk}/actions/{action.pk}/perform", **HX)
    run = run_execute(Run.objects.get().pk)
    html = client.get(f"/flows/acme/sales/runs/{run.pk}", **HX).content.decode()
    assert 'data-status="fail"' in html and "step 1, API Call, failed: the API answered 500: nope" in html


def test_a_failure_says_what_stayed_links_the_run_and_stays_until_dismissed(seed, client, receiver):
    receiver.set_response(status=500, body=b"nope")
    action = seed.action(
        "Finish",
        [
            {"type": "move_to_stage", "config": {"stage": "Completed"}},
            {"type": "api_call", "config": {"url": receiver.url}},
        ],
    )
    member = seed.world.flow_member
    client.force_login(member)
    client.post(f"/flows/acme/sales/tasks/{seed.task.pk}/actions/{action.pk}/perform", **HX)
    run = run_execute(Run.objects.get().pk)
    assert run.status == Run.Status.FAIL
    response = client.get(f"/flows/acme/sales/runs/{run.pk}", **HX)
    html = response.content.decode()
    # The seed's rule: the move stays; the alert says so.
    assert (
        'Finish failed:</strong> <span class="run-error">'
        "moved to Completed; step 2, API Call, failed: the API answered 500: nope" in html
    )
    assert f'href="/flows/acme/sales/runs/{run.pk}"' in html
    assert '<span class="badge count" id="notifications-badge" hx-swap-oob="true">1</span>' in html
    assert "task-updated" in response["HX-Trigger"]
    # The task's buttons come back for its new stage (Finish is not available from Completed).
    assert f'id="actions-{seed.task.pk}"' in html and 'data-action="Finish"' not in html

    # Until dismissed, the alert is part of the task's card and page, also after a reload; only
    # for the person who performed the action.
    text = "moved to Completed; step 2, API Call, failed: the API answered 500: nope"
    assert text in client.get("/flows/acme/sales").content.decode()
    assert text in client.get(f"/flows/acme/sales/tasks/{seed.task.pk}").content.decode()
    client.force_login(seed.world.admin)
    assert text not in client.get("/flows/acme/sales").content.decode()
    client.force_login(member)

    response = client.post(f"/flows/acme/sales/runs/{run.pk}/dismiss", **HX)
    assert (
        '<span class="badge count" id="notifications-badge" hidden hx-swap-oob="true"></span>'
        in response.content.decode()
    )
    assert not Notification.objects.filter(user=member, read_at__isnull=True).exists()
    assert text not in client.get("/flows/acme/sales").content.decode()
    assert text not in client.get(f"/flows/acme/sales/tasks/{seed.task.pk}").content.decode()


def test_buttons_wait_while_a_run_is_in_flight(seed, client):
    action = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    client.force_login(seed.world.flow_member)
    response = client.post(f"/flows/acme/sales/tasks/{seed.task.pk}/actions/{action.pk}/perform", **HX)
    html = response.content.decode()
    run = Run.objects.get()
    assert "(step 1 of 1: " not in html and "(step 1 of 1)" in html
    assert f'<div class="actions-row" id="actions-{seed.task.pk}" data-busy="{run.pk}" hx-swap-oob="true">' in html
    assert "disabled" in html and "Finish · running…" in html
    page = client.get(f"/flows/acme/sales/tasks/{seed.task.pk}").content.decode()
    assert "Finish · running…" in page and 'data-status="pending"' in page, "a reload keeps following the run"

    run_execute(run.pk)
    buttons = client.get(f"/flows/acme/sales/tasks/{seed.task.pk}/buttons", **HX).content.decode()
    assert "running…" not in buttons and "disabled" not in buttons


def test_navigate_to_board_redirects(seed, client):
    action = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    action.navigate = "board"
    action.save()
    client.force_login(seed.world.flow_member)
    client.post(f"/flows/acme/sales/tasks/{seed.task.pk}/actions/{action.pk}/perform", **HX)
    run = run_execute(Run.objects.get().pk)
    response = client.get(f"/flows/acme/sales/runs/{run.pk}", **HX)
    assert response["HX-Redirect"] == "/flows/acme/sales"


def test_unavailable_action_explains(seed, client):
    action = seed.action("Start", [{"type": "move_to_stage", "config": {"stage": "In Progress"}}], ["Not Started"])
    client.force_login(seed.world.flow_member)
    response = client.post(f"/flows/acme/sales/tasks/{seed.task.pk}/actions/{action.pk}/perform", **HX)
    assert "not available from stage" in response.content.decode()
    assert not Run.objects.exists()


def test_without_javascript_redirects_to_the_run_page(seed, client):
    action = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    client.force_login(seed.world.flow_member)
    response = client.post(f"/flows/acme/sales/tasks/{seed.task.pk}/actions/{action.pk}/perform")
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/flows/acme/sales/runs/{run.pk}"
    assert client.get(response["Location"]).status_code == 200


def test_outsiders_cannot_perform(seed, client):
    action = seed.action("Finish", [{"type": "move_to_stage", "config": {"stage": "Completed"}}])
    client.force_login(seed.world.outsider)
    response = client.post(f"/flows/acme/sales/tasks/{seed.task.pk}/actions/{action.pk}/perform", **HX)
    assert response.status_code == 404
    assert not Run.objects.exists()


def test_a_failure_lists_each_earlier_steps_effect_as_its_type_words_it(seed, client, receiver):
    receiver.set_response(status=500, body=b"nope")
    action = seed.action(
        "Finish",
        [
            {"type": "update_field", "config": {"fields": {"Company Name": "Renamed"}}},
            {"type": "assign_to", "config": {"performer": True}},
            {"type": "api_call", "config": {"url": receiver.url}},
        ],
    )
    member = seed.world.flow_member
    client.force_login(member)
    client.post(f"/flows/acme/sales/tasks/{seed.task.pk}/actions/{action.pk}/perform", **HX)
    run = run_execute(Run.objects.get().pk)
    html = client.get(f"/flows/acme/sales/runs/{run.pk}", **HX).content.decode()
    assert (
        f"updated Company Name; assigned to {member.email}; step 3, API Call, failed: the API answered 500: nope"
        in html
    ), html
