"""A CRM organization for the trigger tests: one flow per module, with the fields and stage
outcomes the triggers need. Test modules import the `crm` fixture from here to override the
step tests' `crm` from conftest.py."""

import pytest

from flows.models import Field, Stage
from flows.services import flow_create
from tests.factories import add_flow_member


class Crm:
    def __init__(self, world):
        self.world = world
        admin = world.admin
        org = self.org = world.org

        def flow(name, module, stages, fields):
            f = flow_create(user=admin, organization=org, name=name, module=module)
            f.stages.all().delete()
            for position, (stage_name, end, outcome) in enumerate(stages):
                Stage.objects.create(flow=f, name=stage_name, position=position, end_stage=end, outcome=outcome)
            for position, (field_name, type_, options) in enumerate(fields):
                Field.objects.create(flow=f, name=field_name, type=type_, options=options, position=position)
            add_flow_member(f, world.flow_member)
            add_flow_member(f, world.member)
            return f

        self.leads = flow(
            "Leads",
            "leads",
            [("New", False, ""), ("Contacted", False, ""), ("Converted", True, "converted"), ("Lost", True, "lost")],
            [("Company Name", "text", []), ("Source", "text", []), ("Score", "number", []), ("Phone", "phone", [])],
        )
        self.opportunities = flow(
            "Opportunities",
            "opportunities",
            [("Prospecting", False, ""), ("Won", True, "won"), ("Lost", True, "lost")],
            [("Company Name", "text", []), ("Amount", "currency", [])],
        )
        self.tasks = flow(
            "Tasks",
            "tasks",
            [("Open", False, ""), ("Done", True, "")],
            [("Title", "text", []), ("Due Date", "date", [])],
        )
        self.projects = flow(
            "Projects",
            "projects",
            [("Planned", False, ""), ("Active", False, ""), ("Delivered", True, "")],
            [("Company Name", "text", [])],
        )
        self.contacts = flow("Contacts", "contacts", [("Active", False, "")], [("Name", "text", [])])
        self.accounts = flow("Accounts", "accounts", [("Active", False, "")], [("Name", "text", [])])


@pytest.fixture
def crm(world, settings):
    """Overrides the step tests' `crm` in the modules that import it: the trigger tests need a
    flow per module with stage outcomes and a due-date field."""
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    return Crm(world)
