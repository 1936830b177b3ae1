import json

import pytest

from actions.services import action_create
from flows.models import Field, Stage
from tasks.services import task_create
from tests.receivers import Receiver


class SeedFlow:
    """The seed's flow: stages Not Started → In Progress → Completed, and its six fields."""

    def __init__(self, world):
        self.world = world
        flow = self.flow = world.flow
        flow.stages.all().delete()
        self.not_started = Stage.objects.create(flow=flow, name="Not Started", position=0)
        self.in_progress = Stage.objects.create(flow=flow, name="In Progress", position=1)
        self.completed = Stage.objects.create(flow=flow, name="Completed", position=2, end_stage=True)
        for position, (name, type_, unique) in enumerate(
            [
                ("Company ID", "text", True),
                ("Company Name", "text", False),
                ("Number of Employees", "number", False),
                ("Contract Value", "currency", False),
                ("International?", "checkbox", False),
                ("Expected Close Date", "date", False),
            ]
        ):
            Field.objects.create(flow=flow, name=name, type=type_, unique=unique, position=position)
        self.task = task_create(
            flow=flow,
            actor=world.admin,
            data={
                "Stage": "In Progress",
                "Assigned To": "flowie@example.com",
                "Company ID": "42",
                "Company Name": "Acme Corp",
                "Number of Employees": 20,
                "Contract Value": "10000",
                "International?": False,
                "Expected Close Date": "2020-01-31",
            },
        )

    def action(self, name: str, steps: list[dict], from_stages=("In Progress",)):
        return action_create(
            flow=self.flow,
            actor=self.world.admin,
            data={"name": name, "from_stages": list(from_stages), "steps": steps},
        )


@pytest.fixture
def seed(world, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    return SeedFlow(world)


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def reply_json(receiver, payload, status=200):
    receiver.set_response(
        status=status, body=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
