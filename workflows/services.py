"""Business rules for workflows: saving them (validated), and starting their runs."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.urls import reverse

from actions.models import Run
from actions.steps.base import StepConfigError, StepFailed, config_validate, get_step_type
from actions.steps.http import response_record, signed_send
from flows.models import Flow, Organization, OrganizationMembership, User
from flows.selectors import flow_can_read, organization_is_admin
from flowsite.api import Forbidden, ServiceError
from flowsite.bounds import INT32_MAX
from tasks.identity import task_identity
from tasks.models import Notification, Task
from tasks.services import task_to_json
from workflows.conditions import FilterError, validate_filter
from workflows.models import Workflow, WorkflowAction
from workflows.selectors import workflow_field_types
from workflows.triggers import TRIGGERS

MAX_ACTIONS = 50
FIELDS = {
    "name",
    "description",
    "triggerModule",
    "triggerType",
    "triggerFilters",
    "isActive",
    "actions",
    "organization",
    "flowId",
    "id",
    "version",
    "createdAt",
    "updatedAt",
}


def _organization_for(user: User, value: Any) -> Organization:
    memberships = OrganizationMembership.objects.filter(user=user).select_related("organization")
    if value in (None, ""):
        admin_of = [m.organization for m in memberships if m.admin]
        if len(admin_of) == 1:
            return admin_of[0]
        raise ServiceError({"organization": ["Name the organization (its parameterized name or id)."]})
    for membership in memberships:
        org = membership.organization
        if str(value) in (org.parameterized_name, str(org.pk)):
            return org
    raise ServiceError({"organization": [f'No organization "{value}".']})


def _clean_actions(actions: Any, *, organization: Organization, flow: Flow | None, old: dict[str, dict]) -> list[dict]:
    if not isinstance(actions, list):
        raise ServiceError({"actions": ["Must be a list of actions."]})
    if len(actions) > MAX_ACTIONS:
        raise ServiceError({"actions": [f"At most {MAX_ACTIONS} actions."]})
    cleaned = []
    # Every action is checked, so a person fixes all of them after one submit, not one per submit.
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(actions):
        where = f"actions[{index}]"
        try:
            cleaned.append(_clean_action(item, where=where, index=index, organization=organization, flow=flow, old=old))
        except ServiceError as exc:
            errors.update(exc.errors)
    if errors:
        raise ServiceError(errors)
    return cleaned


def _clean_action(
    item: Any, *, where: str, index: int, organization: Organization, flow: Flow | None, old: dict[str, dict]
) -> dict:
    if not isinstance(item, dict):
        raise ServiceError({where: ["Must be an object with actionType and config."]})
    unknown = set(item) - {"id", "actionType", "config", "sortOrder"}
    if unknown:
        raise ServiceError({f"{where}.{sorted(unknown)[0]}": ["Unknown key."]})
    action_type = item.get("actionType")
    if not isinstance(action_type, str):
        raise ServiceError({f"{where}.actionType": ["This field is required."]})
    sort_order = item.get("sortOrder", index + 1)
    # A JSON number, stored in a 32-bit column: a larger one is bad input, not a database error.
    if isinstance(sort_order, bool) or not isinstance(sort_order, int) or not 0 <= sort_order <= INT32_MAX:
        raise ServiceError({f"{where}.sortOrder": [f"Must be a whole number from 0 to {INT32_MAX}."]})
    config = item.get("config") or {}
    previous = old.get(str(item.get("id"))) if item.get("id") else None
    try:
        step_type = get_step_type(action_type)
        if "workflow" not in step_type.contexts:
            raise StepConfigError("actionType", f'"{action_type}" is not a workflow action type')
        config = config_validate(
            step_type,
            config,
            flow=flow,
            organization=organization,
            old=previous["config"] if previous and previous["action_type"] == step_type.type else None,
        )
    except StepConfigError as exc:
        key = f"{where}.actionType" if exc.field in ("type", "actionType") else f"{where}.config.{exc.field}"
        message = exc.message.replace("step type", "action type")
        raise ServiceError({key: [message]})
    return {
        "id": previous["id"] if previous else None,
        # Stored under the type's own name: an alias (update_data) is only a way in.
        "action_type": step_type.type,
        "config": config,
        "sort_order": sort_order,
    }


def workflow_validate(*, user: User, data: Any, workflow: Workflow | None = None) -> dict:
    if not isinstance(data, dict):
        raise ServiceError({"body": ["Expected a JSON object."]})
    unknown = set(data) - FIELDS
    if unknown:
        raise ServiceError({key: ["Unknown field."] for key in sorted(unknown)})
    partial = workflow is not None
    organization = workflow.organization if workflow else _organization_for(user, data.get("organization"))
    if not organization_is_admin(user=user, organization=organization):
        raise Forbidden("Only organization admins can create or change workflows.")
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {"organization": organization}

    def text(key: str, max_length: int, required: bool) -> None:
        if key not in data and (partial or not required):
            return
        value = data.get(key)
        if value is None and not required:
            value = ""
        if not isinstance(value, str) or (required and not value.strip()):
            errors[key] = ["This field is required." if required else "Must be a string."]
        elif len(value) > max_length:
            errors[key] = [f"Ensure this field has no more than {max_length} characters."]
        else:
            out[key] = value.strip()

    text("name", 200, True)
    text("description", 2000, False)
    module = data.get("triggerModule", workflow.trigger_module if workflow else None)
    # Names are strings: a dict or list is no name (and is unhashable, so `in TRIGGERS` would raise).
    if not isinstance(module, str) or module not in TRIGGERS:
        errors["triggerModule"] = [f"Must be one of: {', '.join(TRIGGERS)}."]
    else:
        out["triggerModule"] = module
        trigger = data.get("triggerType", workflow.trigger_type if workflow else None)
        if not isinstance(trigger, str) or trigger not in TRIGGERS[module]:
            errors["triggerType"] = [f"For {module}, must be one of: {', '.join(TRIGGERS[module])}."]
        else:
            out["triggerType"] = trigger
    if "isActive" in data:
        if not isinstance(data["isActive"], bool):
            errors["isActive"] = ["Must be true or false."]
        else:
            out["isActive"] = data["isActive"]
    flow = workflow.flow if workflow else None
    if "flowId" in data:
        if data["flowId"] in (None, ""):
            flow = None
        else:
            flow = Flow.objects.filter(pk=str(data["flowId"]), organization=organization).first()
            if flow is None:
                errors["flowId"] = ["No such flow in this organization."]
            elif module in TRIGGERS and flow.module != module:
                errors["flowId"] = [f"That flow is not a {module} flow."]
    out["flow"] = flow
    # Every group is checked before answering, so all the errors come back at once. The filters
    # need the module and flow to know the fields, so they wait for those to be right.
    if ("triggerFilters" in data or not partial) and not {"triggerModule", "flowId"} & set(errors):
        try:
            out["triggerFilters"] = validate_filter(
                data.get("triggerFilters"),
                workflow_field_types(organization=organization, module=out["triggerModule"], flow=flow),
            )
        except FilterError as exc:
            errors.update({f"triggerFilters.{key}": reasons for key, reasons in exc.errors.items()})
    if "actions" in data or not partial:
        old = {}
        if workflow is not None:
            old = {
                str(a.pk): {"id": a.pk, "action_type": a.action_type, "config": a.config}
                for a in workflow.actions.all()
            }
        try:
            out["actions"] = _clean_actions(data.get("actions", []), organization=organization, flow=flow, old=old)
        except ServiceError as exc:
            errors.update(exc.errors)
    if errors:
        raise ServiceError(errors)
    return out


def _write(workflow: Workflow, cleaned: dict) -> Workflow:
    mapping = {
        "name": "name",
        "description": "description",
        "triggerModule": "trigger_module",
        "triggerType": "trigger_type",
        "triggerFilters": "trigger_filters",
        "isActive": "is_active",
    }
    for key, attr in mapping.items():
        if key in cleaned:
            setattr(workflow, attr, cleaned[key])
    workflow.flow = cleaned["flow"]
    workflow.save()
    if "actions" in cleaned:
        keep = [a["id"] for a in cleaned["actions"] if a["id"]]
        workflow.actions.exclude(pk__in=keep).delete()
        for action in cleaned["actions"]:
            values = {
                "action_type": action["action_type"],
                "config": action["config"],
                "sort_order": action["sort_order"],
            }
            if action["id"]:
                WorkflowAction.objects.filter(pk=action["id"], workflow=workflow).update(**values)
            else:
                WorkflowAction.objects.create(workflow=workflow, **values)
    return workflow


def workflow_create(*, user: User, data: Any) -> Workflow:
    cleaned = workflow_validate(user=user, data=data)
    with transaction.atomic():
        return _write(Workflow(organization=cleaned["organization"], created_by=user), cleaned)


def workflow_update(*, user: User, workflow: Workflow, data: Any) -> Workflow:
    """PUT: a new version; runs already started keep the version they ran."""
    cleaned = workflow_validate(user=user, data=data, workflow=workflow)
    with transaction.atomic():
        locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
        locked.version = locked.version + 1
        return _write(locked, cleaned)


def workflow_toggle(*, user: User, workflow: Workflow, data: Any = None) -> Workflow:
    if not organization_is_admin(user=user, organization=workflow.organization):
        raise Forbidden("Only organization admins can enable or disable workflows.")
    if data is not None and not isinstance(data, dict):
        # No data flips; anything else must say what it wants, as an object ([], "x" and 1 used to flip).
        raise ServiceError({"body": ["Expected a JSON object, or no body."]})
    value = not workflow.is_active
    if isinstance(data, dict) and "isActive" in data:
        if not isinstance(data["isActive"], bool):
            raise ServiceError({"isActive": ["Must be true or false."]})
        value = data["isActive"]
    Workflow.objects.filter(pk=workflow.pk).update(is_active=value)
    workflow.is_active = value
    return workflow


def workflow_delete(*, user: User, workflow: Workflow) -> None:
    if not organization_is_admin(user=user, organization=workflow.organization):
        raise Forbidden("Only organization admins can delete workflows.")
    workflow.delete()


def workflow_run_failure_notify(*, run: Run, error: str) -> Notification | None:
    """A failed workflow run tells the workflow's owner (the person who created it), linking to the
    run, as a failed action tells its performer. The run holds the task's data, so an owner who may
    no longer read the run's flow is told nothing."""
    if run.kind != Run.Kind.WORKFLOW or run.workflow_id is None:
        return None
    workflow = Workflow.objects.select_related("created_by").filter(pk=run.workflow_id).first()
    owner = workflow.created_by if workflow else None
    flow = Flow.objects.select_related("organization").filter(pk=run.flow_id).first()
    if owner is None or flow is None or not flow_can_read(user=owner, flow=flow):
        return None
    return Notification.objects.create(
        user=owner,
        flow=flow,
        task_id=run.task_id,
        kind="workflow_failed",
        message=f'Workflow "{run.name}" failed. {error}',
        url=reverse("workflow_run", args=[flow.organization.parameterized_name, run.pk]),
    )


# --- "Send test request" in the editor ----------------------------------------------------------


def workflow_action_try(
    *,
    user: User,
    organization: Organization,
    module: str,
    flow: Flow | None,
    workflow: Workflow | None,
    name: str,
    event: str,
    action_type: str,
    config: Any,
    old: dict | None = None,
) -> dict[str, Any]:
    """Send the request an action (a webhook) would send for the newest record the workflow could
    fire on, through the step's own code, the signed client and the outbound boundary. Nothing is
    changed and nothing retries. Returns {"request", "response", "error", "task_label"}; a config
    that does not validate is an error naming the setting."""
    if not organization_is_admin(user=user, organization=organization):
        raise Forbidden("Only organization admins can try workflow actions.")
    outcome: dict[str, Any] = {"request": None, "response": None, "error": "", "task_label": ""}
    try:
        step_type = get_step_type(action_type)
        if not step_type.tryable:
            raise StepConfigError("actionType", "cannot be tried")
        config = config_validate(step_type, config, flow=flow, organization=organization, old=old)
    except StepConfigError as exc:
        outcome["error"] = f"{exc.field}: {exc.message}"
        return outcome
    flows = [flow] if flow is not None else list(Flow.objects.filter(organization=organization, module=module))
    flows = [f for f in flows if flow_can_read(user=user, flow=f)]
    task = Task.objects.filter(flow__in=flows).select_related("flow", "stage").order_by("-id").first()
    if task is None:
        outcome["error"] = "There is no record to try it with yet: create one first."
        return outcome
    outcome["task_label"] = f"{task_identity(task)} in {task.flow.name}"
    try:
        out = step_type.trial_request(
            config,
            task=task,
            task_json=task_to_json(task=task),
            user=user,
            name=name,
            event=event,
            workflow_id=workflow.pk if workflow is not None else None,
        )
        response, request_record, secrets = signed_send(
            **out, idempotency_key=f"test-{uuid.uuid4().hex}", signing_secret=task.flow.signing_secret
        )
    except StepFailed as exc:
        outcome["request"], outcome["error"] = exc.request, exc.message
        return outcome
    outcome["request"], outcome["response"] = request_record, response_record(response, secrets)
    return outcome
