"""Which flow of an organization plays a CRM module (leads, opportunities, tasks, projects, ...)."""

from __future__ import annotations

from flows.models import Flow, Organization


def module_flow(*, organization: Organization, module: str) -> Flow | None:
    """The organization's first enabled flow of that module, oldest first (ties by id)."""
    return (
        Flow.objects.filter(organization=organization, module=module, disabled=False)
        .order_by("created_at", "id")
        .first()
    )
