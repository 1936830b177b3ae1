import uuid

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from actions.models import Run, StepRun
from flows.models import Field, Flow, OrganizationMembership, User
from flows.selectors import flow_readable_ids
from flowsite.bounds import id_or_none
from workflows.models import Workflow, WorkflowAction


def workflow_list(*, user: User, module: str | None = None, organization: str | None = None) -> QuerySet[Workflow]:
    """The workflows the user may read: an organization's workflows for every flow of its module are
    read by its members; a workflow bound to one flow only by those who may read that flow (its
    filters and calls describe that flow's task data)."""
    orgs = OrganizationMembership.objects.filter(user=user).values("organization_id")
    qs = (
        Workflow.objects.filter(organization_id__in=orgs)
        .filter(Q(flow__isnull=True) | Q(flow_id__in=flow_readable_ids(user=user)))
        .select_related("organization", "flow")
        .prefetch_related(Prefetch("actions", queryset=WorkflowAction.objects.order_by("sort_order", "id")))
    )
    if module:
        qs = qs.filter(trigger_module=module)
    if organization:
        qs = qs.filter(organization__parameterized_name=organization)
    return qs.order_by("organization__name", "name", "created_at")


def workflow_get(*, user: User, workflow_id) -> Workflow:
    try:
        uuid.UUID(str(workflow_id))
    except ValueError:
        raise Http404
    workflow = workflow_list(user=user).filter(pk=workflow_id).first()
    if workflow is None:
        raise Http404
    return workflow


def workflow_field_types(*, organization, module: str, flow: Flow | None = None) -> dict[str, str]:
    """Field types a workflow's filters may name: the one flow's, or the union over the
    organization's flows of the module (the first type seen wins for a shared name)."""
    fields = (
        Field.objects.filter(flow=flow)
        if flow is not None
        else Field.objects.filter(flow__organization=organization, flow__module=module)
    )
    types: dict[str, str] = {}
    for name, type_ in fields.order_by("flow_id", "position").values_list("name", "type"):
        types.setdefault(name, type_)
    return types


def workflow_runs(*, user: User, workflow: Workflow, status: str | None = None) -> QuerySet[Run]:
    """The workflow's runs the person may read: a run carries its task's data (the trigger's old
    values, the step records), so only runs on tasks of flows the person may read count, even
    for an organization-wide workflow whose runs span several flows."""
    qs = Run.objects.filter(workflow=workflow, flow_id__in=flow_readable_ids(user=user)).order_by("-id")
    if status:
        qs = qs.filter(status=status)
    return qs


def workflow_last_runs(*, user: User) -> QuerySet[Run]:
    """For a subquery per workflow (filter on workflow=OuterRef("pk")): its runs the person may read, newest first."""
    return Run.objects.filter(flow_id__in=flow_readable_ids(user=user)).order_by("-id")


def run_get_for_user(*, user: User, run_id) -> Run:
    run_id = id_or_none(run_id)
    if run_id is None:
        raise Http404
    run = (
        Run.objects.filter(pk=run_id, kind=Run.Kind.WORKFLOW, flow_id__in=flow_readable_ids(user=user))
        .select_related("workflow", "flow__organization")
        .prefetch_related(Prefetch("step_runs", queryset=StepRun.objects.order_by("id")))
        .first()
    )
    if run is None:
        raise Http404
    return run
