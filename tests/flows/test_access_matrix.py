"""Who may read task data, over the real URL layer: every role x every access mode x every place a
task's data (or a copy of it) can be read. The rule is flows.selectors.flow_readable_ids: an
organization admin reads every flow of the organization; anyone else only the enabled flows they
are an active member of. Everyone else gets "not found" for a single object and nothing in a list.

The data travels the real paths: a workflow's webhook and an action's API Call post the task to a
loopback receiver, so the run's step records hold the task's fields as they would in production."""

import json

import pytest
from django.test import Client

from actions.engine import run_execute
from actions.models import Run
from actions.services import action_create, action_perform
from flows.models import Field, Flow, FlowMembership
from tasks.models import Comment, Mention, Notification
from tasks.services import task_create
from tests.conftest import api_client
from tests.factories import OrganizationFactory, UserFactory, add_flow_member, add_org_member, make_flow
from tests.receivers import Receiver
from tests.workflows.conftest import dispatch_events
from workflows.models import Workflow
from workflows.services import workflow_create

pytestmark = pytest.mark.django_db

ROLES = ["org_admin", "flow_member", "org_member", "disabled_flow", "blocked_member", "outsider", "anonymous"]
MODES = [Flow.AccessMode.ORGANIZATION, Flow.AccessMode.LINK, Flow.AccessMode.INVITATION]
ALLOWED = {"org_admin", "flow_member"}


class Matrix:
    """One flow in the given access mode, holding one task whose "Code" is a secret, with everything
    that copies it: an action run and a workflow run (step records carrying the task), a comment, a
    mention and a notification of the person whose access is tested."""

    def __init__(self, mode: str, role: str, receiver: Receiver):
        self.mode, self.role = mode, role
        self.secret = f"TOPSECRET-{mode}"
        self.admin = UserFactory(email="boss@example.com")
        self.org = OrganizationFactory(name="Acme", parameterized_name="acme")
        add_org_member(self.org, self.admin, admin=True)
        other = OrganizationFactory(name="Other", parameterized_name="other")
        self.flow = make_flow(self.org, self.admin, name="Vault", access_mode=mode, module="leads")
        Field.objects.create(flow=self.flow, name="Code", type="text", position=0)

        self.user = None if role == "anonymous" else UserFactory(email=f"{role}@example.com")
        if role == "org_admin":
            add_org_member(self.org, self.user, admin=True)
        elif role in ("flow_member", "org_member", "disabled_flow", "blocked_member"):
            add_org_member(self.org, self.user)
        elif role == "outsider":
            add_org_member(other, self.user, admin=True)
        if role in ("flow_member", "disabled_flow"):
            add_flow_member(self.flow, self.user)
        if role == "blocked_member":
            add_flow_member(self.flow, self.user, disabled=True)

        self.workflow = workflow_create(
            user=self.admin,
            data={
                "organization": "acme",
                "name": "Tell the CRM",
                "triggerModule": "leads",
                "triggerType": "lead_created",
                "actions": [{"actionType": "webhook", "config": {"url": receiver.url_for("/hook"), "maxAttempts": 1}}],
            },
        )
        self.action = action_create(
            flow=self.flow,
            actor=self.admin,
            data={"name": "Sync", "steps": [{"type": "api_call", "config": {"url": receiver.url_for("/sync")}}]},
        )

    def build(self, capture) -> "Matrix":
        with capture(execute=True):
            self.task = task_create(flow=self.flow, actor=self.admin, data={"Code": self.secret})
        dispatch_events()
        [self.workflow_run] = Run.objects.filter(workflow=self.workflow)
        self.workflow_run = run_execute(self.workflow_run.pk)
        self.action_run = run_execute(action_perform(action=self.action, task=self.task, actor=self.admin).pk)
        # The secret really is in the step records, as the receiver got it.
        for run in (self.workflow_run, self.action_run):
            assert run.status == Run.Status.SUCCESS, run.errors
            assert self.secret in json.dumps(run.step_runs.get().request)
        comment = Comment.objects.create(task=self.task, author=self.admin, body=f"About {self.secret}")
        if self.user is not None:
            # As if the person was mentioned while they could read the flow.
            Mention.objects.create(comment=comment, task=self.task, flow=self.flow, user=self.user)
            Notification.objects.create(
                user=self.user, flow=self.flow, task=self.task, kind="mention", message=f"You were named: {self.secret}"
            )
        if self.role == "disabled_flow":
            Flow.objects.filter(pk=self.flow.pk).update(disabled=True)
        return self

    def api(self):
        return api_client(self.user)

    def browser(self) -> Client:
        client = Client()
        if self.user is not None:
            client.force_login(self.user)
        return client


@pytest.fixture
def receiver(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with Receiver() as server:
        server.set_response(status=200, body=b"{}", headers={"Content-Type": "application/json"})
        yield server


def _m(mode, role, receiver, capture) -> Matrix:
    return Matrix(mode, role, receiver).build(capture)


# Single objects that carry task data: the allowed get them with the secret, everyone else 404
# (the anonymous: 401/403 from the API, a redirect to the login page from a page).
DETAILS = {
    # name: (door, url, what the allowed find in the answer)
    "task api": ("api", lambda m: f"/api/flows/acme/vault/tasks/{m.task.pk}", lambda m: m.secret),
    "task comments api": ("api", lambda m: f"/api/flows/acme/vault/tasks/{m.task.pk}/comments", lambda m: m.secret),
    "execution api": ("api", lambda m: f"/api/flows/acme/vault/executions/{m.action_run.pk}", lambda m: m.secret),
    "workflow run api": ("api", lambda m: f"/api/workflows/runs/{m.workflow_run.pk}", lambda m: m.secret),
    "task page": ("html", lambda m: f"/flows/acme/vault/tasks/{m.task.pk}", lambda m: m.secret),
    "task fields": ("html", lambda m: f"/flows/acme/vault/tasks/{m.task.pk}/fields", lambda m: m.secret),
    "task history": ("html", lambda m: f"/flows/acme/vault/tasks/{m.task.pk}/history", lambda m: m.secret),
    # The action run's page shows its steps' requests, which carry the task.
    "run status page": ("html", lambda m: f"/flows/acme/vault/runs/{m.action_run.pk}", lambda m: m.secret),
    "task run history": ("html", lambda m: f"/flows/acme/vault/tasks/{m.task.pk}/runs", lambda m: "Sync"),
    "task recent runs": ("html", lambda m: f"/flows/acme/vault/tasks/{m.task.pk}/runs?recent=1", lambda m: "Sync"),
    "workflow run page": (
        "html",
        lambda m: f"/organizations/acme/workflows/runs/{m.workflow_run.pk}",
        lambda m: m.secret,
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("mode", MODES)
def test_single_objects(mode, role, receiver, django_capture_on_commit_callbacks):
    m = _m(mode, role, receiver, django_capture_on_commit_callbacks)
    for name, (door, url, marker) in DETAILS.items():
        client = m.api() if door == "api" else m.browser()
        response = client.get(url(m))
        body = response.content.decode()
        if role in ALLOWED:
            assert response.status_code == 200, name
            assert marker(m) in body, name
        elif role == "anonymous":
            assert response.status_code in ((401, 403) if door == "api" else (302,)), name
            assert m.secret not in body and "Sync" not in body, name
        else:
            assert response.status_code == 404, (name, response.status_code)
            assert m.secret not in body and "Sync" not in body, name


# Lists and counts: the allowed see the task (or its copy) in them; for everyone else it is not there
# (the list itself may be not found, or shown without it).
def _workflow_runs_api(m):
    return m.api().get(f"/api/workflows/{m.workflow.pk}/runs")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("mode", MODES)
def test_lists_and_counts(mode, role, receiver, django_capture_on_commit_callbacks):
    m = _m(mode, role, receiver, django_capture_on_commit_callbacks)
    allowed = role in ALLOWED
    api, browser = m.api(), m.browser()

    # First, as opening the board marks the flow's mentions read: mentions counted on the flow,
    # notifications (the page and the unread badge).
    if role == "anonymous":
        assert browser.get("/notifications").status_code == 302
        assert api.get("/api/flows/acme/vault").status_code in (401, 403)
    else:
        flow = api.get("/api/flows/acme/vault")
        if allowed:
            assert flow.json()["unread_mentions"] == 1
        else:
            assert flow.status_code == 404 or flow.json()["unread_mentions"] == 0
        for listing in ("/api/flows", "/api/flows/all"):
            counts = [f["unread_mentions"] for f in api.get(listing).json() if f["id"] == m.flow.pk]
            assert counts in (([], [1]) if allowed else ([], [0])), listing
        home = browser.get("/").content.decode()
        assert ('id="notifications-badge">1<' in home) is allowed
        notifications = browser.get("/notifications").content.decode()
        assert (m.secret in notifications) is allowed

    # The Task API's lists, filtered by the secret value (search) and not.
    lists = (
        "/api/flows/acme/vault/tasks",
        f"/api/flows/acme/vault/tasks?Code={m.secret}",
        "/api/flows/acme/vault/tasks/active",
    )
    for url in lists:
        response = api.get(url)
        if allowed:
            assert response.status_code == 200 and response["X-Total-Count"] == "1", url
            assert m.secret in response.content.decode(), url
        else:
            assert response.status_code in (401, 403) if role == "anonymous" else response.status_code == 404, url

    # The board, searched for the secret: the cards and the column counts.
    board = browser.get(f"/flows/acme/vault?q={m.secret}")
    if allowed:
        assert board.status_code == 200 and m.secret in board.content.decode()
    else:
        # Organization members who may join see the join prompt; nobody else sees the flow at all.
        assert m.secret not in board.content.decode()
        assert "Join flow" in board.content.decode() if board.status_code == 200 else board.status_code in (302, 404)

    # The flow's action runs: the Executions list (filtered by the task too) and the run history page.
    run_link = f"/flows/acme/vault/runs/{m.action_run.pk}"
    for url in ("/api/flows/acme/vault/executions", f"/api/flows/acme/vault/executions?task_id={m.task.pk}"):
        response = api.get(url)
        if allowed:
            assert response.status_code == 200 and response["X-Total-Count"] == "1", url
            assert m.secret in response.content.decode(), url
        else:
            assert response.status_code in ((401, 403) if role == "anonymous" else (404,)), url
            assert m.secret not in response.content.decode(), url
    history = browser.get("/flows/acme/vault/runs")
    if allowed:
        assert history.status_code == 200 and run_link in history.content.decode()
    else:
        assert history.status_code in ((302,) if role == "anonymous" else (404,))
        assert run_link not in history.content.decode()

    # The workflow's runs (API list and its total; the HTML list; the last run on the workflow list).
    response = _workflow_runs_api(m)
    runs_page = browser.get(f"/organizations/acme/workflows/{m.workflow.pk}/runs")
    workflows_page = browser.get("/organizations/acme/workflows")
    run_link = f"/organizations/acme/workflows/runs/{m.workflow_run.pk}"
    if allowed:
        data = response.json()
        assert [r["id"] for r in data["data"]] == [m.workflow_run.pk] and data["pagination"]["total"] == 1
        assert run_link in runs_page.content.decode()
        assert run_link in workflows_page.content.decode()
    else:
        if response.status_code == 200:  # organization members may see the workflow, not the run
            assert response.json()["data"] == [] and response.json()["pagination"]["total"] == 0
        else:
            assert response.status_code in ((401, 403) if role == "anonymous" else (404,))
        for page in (runs_page, workflows_page):
            assert run_link not in page.content.decode()
            assert page.status_code in ((200, 404) if role != "anonymous" else (302,))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("mode", MODES)
def test_retry_is_not_found_for_those_who_may_not_read(mode, role, receiver, django_capture_on_commit_callbacks):
    m = _m(mode, role, receiver, django_capture_on_commit_callbacks)
    Run.objects.filter(pk=m.workflow_run.pk).update(status=Run.Status.FAIL)
    api_answer = m.api().post(f"/api/workflows/runs/{m.workflow_run.pk}/retry")
    page_answer = m.browser().post(f"/organizations/acme/workflows/runs/{m.workflow_run.pk}/retry")
    if role == "org_admin":
        assert api_answer.status_code == 200 and m.secret in api_answer.content.decode()
    elif role == "flow_member":
        assert api_answer.status_code == 403 and page_answer.status_code == 403
    elif role == "anonymous":
        assert api_answer.status_code in (401, 403) and page_answer.status_code == 302
    else:
        assert api_answer.status_code == 404 and page_answer.status_code == 404
    if role != "org_admin":
        assert Run.objects.get(pk=m.workflow_run.pk).status == Run.Status.FAIL


# --- an organization-wide workflow whose runs span two flows ---------------------------------------


def test_runs_of_an_organization_wide_workflow_show_each_person_only_their_tasks(
    receiver, django_capture_on_commit_callbacks
):
    admin, alice, bob = (UserFactory(email=f"{n}@example.com") for n in ("admin", "alice", "bob"))
    org = OrganizationFactory(name="Acme", parameterized_name="acme")
    add_org_member(org, admin, admin=True)
    add_org_member(org, alice)
    add_org_member(org, bob)
    north = make_flow(org, admin, name="North", module="leads")
    south = make_flow(org, admin, name="South", module="leads")
    add_flow_member(north, alice)
    add_flow_member(south, bob)
    workflow = workflow_create(
        user=admin,
        data={
            "organization": "acme",
            "name": "Everywhere",
            "triggerModule": "leads",
            "triggerType": "lead_created",
            "actions": [{"actionType": "webhook", "config": {"url": receiver.url_for("/hook"), "maxAttempts": 1}}],
        },
    )
    assert Workflow.objects.get(pk=workflow.pk).flow_id is None
    with django_capture_on_commit_callbacks(execute=True):
        task_create(flow=north, actor=admin, data={"Stage": "To Do"})
        task_create(flow=south, actor=admin, data={"Stage": "To Do"})
    dispatch_events()
    runs = {run.flow_id: run_execute(run.pk) for run in Run.objects.filter(workflow=workflow)}
    assert set(runs) == {north.pk, south.pk}

    def seen(user):
        data = api_client(user).get(f"/api/workflows/{workflow.pk}/runs").json()
        return {r["id"] for r in data["data"]}, data["pagination"]["total"]

    assert seen(admin) == ({runs[north.pk].pk, runs[south.pk].pk}, 2)
    assert seen(alice) == ({runs[north.pk].pk}, 1)
    assert seen(bob) == ({runs[south.pk].pk}, 1)
    for user, mine, theirs in ((alice, runs[north.pk], runs[south.pk]), (bob, runs[south.pk], runs[north.pk])):
        api = api_client(user)
        assert api.get(f"/api/workflows/runs/{mine.pk}").status_code == 200
        assert api.get(f"/api/workflows/runs/{theirs.pk}").status_code == 404
        browser = Client()
        browser.force_login(user)
        runs_page = browser.get(f"/organizations/acme/workflows/{workflow.pk}/runs").content.decode()
        assert f'/workflows/runs/{mine.pk}"' in runs_page and f'/workflows/runs/{theirs.pk}"' not in runs_page
        assert browser.get(f"/organizations/acme/workflows/runs/{mine.pk}").status_code == 200
        assert browser.get(f"/organizations/acme/workflows/runs/{theirs.pk}").status_code == 404
        # The workflow list's "last run" is the newest run the person may read.
        listing = browser.get("/organizations/acme/workflows").content.decode()
        assert f'/workflows/runs/{mine.pk}"' in listing and f'/workflows/runs/{theirs.pk}"' not in listing

    # Losing access to a flow hides its runs again.
    FlowMembership.objects.filter(flow=north, user=alice).update(disabled=True)
    assert seen(alice) == (set(), 0)
