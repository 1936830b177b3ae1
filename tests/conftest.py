import pytest
from rest_framework.test import APIClient

from tests.factories import OrganizationFactory, UserFactory, add_flow_member, add_org_member, make_flow, token_for


def api_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return client


@pytest.fixture
def api():
    return api_client


class World:
    """An organization with an admin, a member, a flow member, and an outsider in another org."""

    def __init__(self):
        self.admin = UserFactory(email="admin@example.com", first_name="Ada", last_name="Admin", nick="ada")
        self.member = UserFactory(email="member@example.com", first_name="Mel", last_name="Member", nick="mel")
        self.flow_member = UserFactory(email="flowie@example.com", first_name="Flo", last_name="Wie", nick="flo")
        self.outsider = UserFactory(email="outsider@example.com", first_name="Otto", last_name="Side", nick="otto")
        self.org = OrganizationFactory(name="Acme", parameterized_name="acme")
        add_org_member(self.org, self.admin, admin=True)
        add_org_member(self.org, self.member)
        add_org_member(self.org, self.flow_member)
        self.other_org = OrganizationFactory(name="Other", parameterized_name="other")
        add_org_member(self.other_org, self.outsider, admin=True)
        self.flow = make_flow(self.org, self.admin, name="Sales")
        add_flow_member(self.flow, self.flow_member)


@pytest.fixture
def world(db):
    return World()
