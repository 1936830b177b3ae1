import pytest

from flows.models import Field
from tasks.models import TaskEvent
from tests.factories import FieldFactory

SALES = "/api/flows/acme/sales"


class Sales:
    """The seed's schema on the world's "Sales" flow: Company ID is the uniqueId key."""

    def __init__(self, world):
        flow = world.flow
        self.world = world
        self.flow = flow
        self.company_id = FieldFactory(
            flow=flow, name="Company ID", type=Field.Type.UNIQUE_ID, unique=True, editable=False, position=0
        )
        self.company_name = FieldFactory(
            flow=flow, name="Company Name", type=Field.Type.TEXT, required=True, position=1
        )
        self.employees = FieldFactory(flow=flow, name="Number of Employees", type=Field.Type.NUMBER, position=2)
        self.value = FieldFactory(flow=flow, name="Contract Value", type=Field.Type.CURRENCY, position=3)
        self.international = FieldFactory(flow=flow, name="International?", type=Field.Type.CHECKBOX, position=4)
        self.close = FieldFactory(flow=flow, name="Expected Close Date", type=Field.Type.DATE, position=5)


@pytest.fixture
def sales(world):
    return Sales(world)


@pytest.fixture
def rings(monkeypatch):
    """The doorbells rung after commits that recorded task events: for each, the ids of the events
    then waiting to be dispatched (the hooks the apps above registered are set aside, and this one
    takes the events of every flow)."""
    calls: list[list[int]] = []

    def hook() -> None:
        calls.append(list(TaskEvent.objects.filter(dispatched_at__isnull=True).values_list("pk", flat=True)))

    monkeypatch.setattr("tasks.services.EVENTS_RECORDED_HOOKS", [hook])
    monkeypatch.setattr("tasks.services.EVENTS_HEARD", [lambda flow: True])
    return calls


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
