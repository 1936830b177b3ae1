"""assign_owner: give the task to one of a list of people, in turn or to the least busy.

Near-pair decision: Flowdash's "assign_to" (actions.steps.task_steps) and this type stay two types
sharing one implementation of the assignment itself (tasks.services.task_set_assignee, which checks
the person may hold the task and records the event). What differs is who: assign_to names one
person (or whoever performs the action) and needs no state; assign_owner picks from a list with a
cursor row per workflow action (round robin) or a count of open tasks (least loaded). Folding the
rotation into assign_to as an option would give every action step a cursor it cannot have (actions
have no WorkflowAction row), so no data moved."""

from __future__ import annotations

import uuid

from django.db.models import Count
from rest_framework import serializers

from actions.program import step_at
from actions.steps.base import (
    StepConfigError,
    StepConfigSerializer,
    StepContext,
    StepFailed,
    StepForm,
    StepResult,
    StepType,
    only_keys,
    register,
)
from tasks.models import Task
from tasks.services import task_set_assignee
from tasks.values import TaskValidationError
from workflows.models import RoundRobinCursor, WorkflowAction
from workflows.steps._common import WORKFLOW, clean_people, flow_people, fresh_task, organization_of

ALGORITHMS = ("round_robin", "least_loaded")


def workflow_action_for(ctx: StepContext):
    """The WorkflowAction whose round-robin cursor this step advances: the step's own action, or for a
    step nested in a branch (whose id names no action) the top-level action that holds it."""
    if not ctx.run.workflow_id:
        return None
    candidates = [step_at(ctx.run.program, ctx.run.cursor), step_at(ctx.run.program, ctx.run.cursor[:1])]
    for step in candidates:
        try:
            action_id = uuid.UUID(str((step or {}).get("id", "")))
        except ValueError:
            continue
        action = WorkflowAction.objects.filter(pk=action_id, workflow_id=ctx.run.workflow_id).first()
        if action is not None:
            return action
    return None


class AssignOwnerConfig(StepConfigSerializer):
    algorithm = serializers.ChoiceField(choices=ALGORITHMS, default="round_robin")
    userIds = serializers.ListField(child=serializers.CharField(), help_text="User ids or emails, in turn order.")


@register
class AssignOwner(StepType):
    type = "assign_owner"
    label = "Assign owner"
    contexts = WORKFLOW
    description = "Assign the record to one of the listed people: round robin or least loaded."
    Config = AssignOwnerConfig
    form = StepForm("steps/assign_owner.html", people=True, defaults={"algorithm": "round_robin", "userIds": []})

    def summary(self, config):
        algorithm = config.get("algorithm", "round_robin").replace("_", " ")
        return f"Assign ({algorithm}) to {', '.join(map(str, config.get('userIds') or []))}"

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"algorithm", "userIds"})
        algorithm = config.get("algorithm", "round_robin")
        if algorithm not in ALGORITHMS:
            raise StepConfigError("algorithm", f"must be one of {', '.join(ALGORITHMS)}")
        people = clean_people(
            config.get("userIds"), "userIds", organization=organization_of(flow=flow, organization=organization)
        )
        return {"algorithm": algorithm, "userIds": people}

    def execute(self, ctx, config):
        algorithm = config.get("algorithm", "round_robin")
        people = list(config.get("userIds") or [])
        action = workflow_action_for(ctx)
        output: dict = {"algorithm": algorithm}

        def apply() -> None:
            task = fresh_task(ctx)
            # Locking the cursor row serializes concurrent runs of this action (both algorithms), so
            # round robin hands out people fairly and least_loaded counts include the last pick.
            cursor = lock_cursor(action) if action is not None else None
            candidates = flow_people(people, task.flow)
            if not candidates:
                raise StepFailed(f"none of the listed people is a member of {task.flow.name} any more")
            if algorithm == "round_robin":
                if cursor is None:
                    raise StepFailed("round robin needs the workflow's saved action; save the workflow again")
                chosen = round_robin_pick(people, candidates, cursor)
            else:
                chosen = least_loaded_pick(candidates, task)
            try:
                task_set_assignee(task=task, actor=None, assignee=chosen, source=ctx.source, depth=ctx.depth)
            except TaskValidationError:
                raise StepFailed(f"{chosen.email} cannot be assigned in {task.flow.name}")
            output["assigned_to"] = chosen.email
            output["user_id"] = chosen.pk

        return StepResult(output=output, apply=apply)


def lock_cursor(action):
    cursor, _ = RoundRobinCursor.objects.get_or_create(workflow_action=action)
    return RoundRobinCursor.objects.select_for_update().get(pk=cursor.pk)


def round_robin_pick(people: list, candidates: list, cursor):
    """The next listed person after the previous pick who is still a member; the cursor is an index
    into the configured list, so people who left are skipped without shifting everyone's turn."""
    size = len(people)
    start = cursor.position % size
    for offset in range(size):
        index = (start + offset) % size
        user = next((u for u in candidates if names(people[index], u)), None)
        if user is not None:
            cursor.position = index + 1
            cursor.save(update_fields=["position"])
            return user
    raise StepFailed("none of the listed people is a member of this flow any more")


def names(person, user) -> bool:
    text = str(person).strip()
    return text == str(user.pk) if text.isdigit() else text.lower() == user.email.lower()


def least_loaded_pick(candidates: list, task):
    """Fewest open tasks (not in an end stage) assigned in the task's flow; ties go to the earlier
    listed person. The task being assigned does not count for whoever holds it now."""
    counts = dict(
        Task.objects.filter(flow_id=task.flow_id, assignee__in=candidates, stage__end_stage=False)
        .exclude(pk=task.pk)
        .order_by()
        .values_list("assignee")
        .annotate(n=Count("id"))
        .values_list("assignee", "n")
    )
    return min(candidates, key=lambda user: (counts.get(user.pk, 0), candidates.index(user)))
