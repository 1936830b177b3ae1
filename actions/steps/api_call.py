"""API Call (seeds 000 and 001): send the action, the person and the task to the team's own
service. A 2xx answer moves on, and a `"task"` object in it updates the task after the same
validation the Task API applies; anything else aborts the action on this step.

Near-pair decision: API Call and the workflows' webhook stay two types sharing one implementation
of the call (actions.steps.http: the config fields and header rows with secrets, the URL rule, the
signed send through the outbound boundary, the redacted records, the summary). They differ in what
the answer means, not in how the call is made: an API Call's answer may update the task and a
non-2xx stops the action at once in front of the person; a webhook's answer is only recorded, it
retries timeouts, 429 and 5xx with backoff, and its body and URL are templates of the record.
One type with options would make each of those a switch in both directions, so no data moved."""

from __future__ import annotations

from typing import Any

from actions.steps import http
from actions.steps.base import (
    StepConfigError,
    StepContext,
    StepFailed,
    StepForm,
    StepResult,
    StepType,
    only_keys,
    register,
)
from flowsite import jsonsafe
from tasks.models import Task
from tasks.services import task_files_fetch, task_update
from tasks.values import Fetched, TaskValidationError


def user_payload(user) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": str(user.pk), "email": user.email, "first_name": user.first_name, "last_name": user.last_name}


@register
class ApiCall(StepType):
    type = "api_call"
    label = "API Call"
    contexts = ("action",)
    description = "Call your API with the task; a 2xx answer may update the task."
    Config = http.CallConfig
    form = StepForm("steps/api_call.html", headers=("headers",), defaults={"url": "", "method": "POST"})
    tryable = True

    @staticmethod
    def trial_payload(*, action_name: str, user, task_json: dict) -> dict:
        """The body this step sends: what execute sends and what "Send test request" sends."""
        return {"action": action_name, "user": user_payload(user), "task": task_json}

    def trial_request(self, config: dict, *, task, task_json: dict, user, name: str, **context) -> dict:
        payload = self.trial_payload(action_name=name, user=user, task_json=task_json)
        return {
            "method": config.get("method", "POST"),
            "url": config["url"],
            "headers": config.get("headers", []),
            "payload": payload,
        }

    def validate(self, config, *, flow=None, organization=None, old: dict | None = None):
        only_keys(config, {"url", "method", "headers"})
        url = http.clean_url(config)
        old = old or {}
        return {
            "url": url,
            "method": http.clean_method(config),
            "headers": http.clean_headers(config.get("headers"), old.get("headers"), url=url, old_url=old.get("url")),
        }

    def summary(self, config):
        return http.call_summary(config)

    def public_config(self, config):
        return {**config, "headers": http.public_headers(config.get("headers", []))}

    def secret_values(self, config):
        return http.secret_values(config.get("headers", []))

    def execute(self, ctx: StepContext, config: dict) -> StepResult:
        payload = self.trial_payload(action_name=ctx.run.name, user=ctx.user, task_json=ctx.task_json())
        response, request_record, secrets = http.signed_send(
            method=config.get("method", "POST"),
            url=config["url"],
            headers=config.get("headers", []),
            payload=payload,
            idempotency_key=ctx.idempotency_key,
            signing_secret=ctx.flow.signing_secret,
        )
        record = http.response_record(response, secrets)
        if not response.ok:
            detail = http.excerpt(response.text().strip(), secrets)
            message = f"the API answered {response.status_code}" + (f": {detail}" if detail else "")
            raise StepFailed(message, request=request_record, response=record)
        if response.truncated:
            # A cut answer may have carried a "task" object we cannot see: passing it as read would
            # silently drop the update the API asked for.
            raise StepFailed(
                f"the API answered with more than the {len(response.body)}-byte response limit, so the answer "
                "could not be read in full; "
                "the task was not changed",
                request=request_record,
                response=record,
            )
        try:
            answer = jsonsafe.loads(response.body) if response.body.strip() else None
        except jsonsafe.UnsafeJSON as exc:
            # JSON Flowsite refuses (too deep, lone surrogates) may carry a "task" it cannot see: like a
            # cut answer, it must not pass as read.
            raise StepFailed(
                f"the API's answer could not be read ({exc}); the task was not changed",
                request=request_record,
                response=record,
            )
        except ValueError:
            answer = None  # not JSON: an answer without a task object
        changes = answer.get("task") if isinstance(answer, dict) else None
        if changes is None:
            return StepResult(request=request_record, response=record)
        if not isinstance(changes, dict):
            raise StepFailed('the answer\'s "task" must be a JSON object', request=request_record, response=record)
        task_id = ctx.task.pk
        # Files the answer names by remoteUrl are fetched before the engine's transaction opens.
        fetched = task_files_fetch(flow=ctx.task.flow, data=changes)

        def apply() -> None:
            merge_answer(ctx, task_id, changes, fetched)

        return StepResult(request=request_record, response=record, output={"task": changes}, apply=apply)


def merge_answer(ctx: StepContext, task_id: int, changes: dict, fetched: Fetched) -> None:
    """Validate the answer's task exactly as the Task API would, then merge it, or fail the step
    and merge nothing."""
    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        raise StepFailed("the task no longer exists")
    try:
        task_update(task=task, actor=ctx.user, data=changes, source=ctx.source, depth=ctx.depth, fetched=fetched)
    except TaskValidationError as exc:
        reasons = "; ".join(f"{name}: {', '.join(map(str, why))}" for name, why in exc.errors.items())
        raise StepFailed(f"the answer's task was refused ({reasons})")


__all__ = ["ApiCall", "StepConfigError"]
