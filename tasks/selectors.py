"""Reads for tasks, their history, comments and notifications."""

from django.db.models import Count

from flows.models import User
from tasks.models import Mention


def unread_mentions_by_flow(*, user: User, flow_ids) -> dict[str, int]:
    rows = (
        Mention.objects.filter(user=user, flow_id__in=list(flow_ids), read_at__isnull=True)
        .values("flow_id")
        .annotate(n=Count("id"))
    )
    return {row["flow_id"]: row["n"] for row in rows}
