import factory
from rest_framework.authtoken.models import Token

from flows.models import Flow, FlowMembership, Organization, OrganizationMembership, User
from flows.services import flow_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = factory.Sequence(lambda n: f"Last{n}")
    nick = factory.Sequence(lambda n: f"nick{n}")
    password = factory.PostGenerationMethodCall("set_password", "password123")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    parameterized_name = factory.Sequence(lambda n: f"org-{n}")


def add_org_member(organization: Organization, user: User, *, admin: bool = False) -> OrganizationMembership:
    return OrganizationMembership.objects.create(organization=organization, user=user, admin=admin)


def make_flow(organization: Organization, creator: User, *, name: str = "My flow", **kwargs) -> Flow:
    return flow_create(user=creator, organization=organization, name=name, **kwargs)


def add_flow_member(flow: Flow, user: User, **kwargs) -> FlowMembership:
    return FlowMembership.objects.create(flow=flow, user=user, **kwargs)


def token_for(user: User) -> str:
    return Token.objects.get_or_create(user=user)[0].key


# --- schema and tasks (issue 3) ---


class StageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "flows.Stage"

    name = factory.Sequence(lambda n: f"Stage {n}")
    position = factory.Sequence(lambda n: 100 + n)


class FieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "flows.Field"

    name = factory.Sequence(lambda n: f"Field {n}")
    type = "text"
    position = factory.Sequence(lambda n: n)


def make_task(flow: Flow, actor: User, data: dict | None = None, **kwargs):
    """A task created through the service, so keys, numbers and events are as the API makes them."""
    from tasks.services import task_create

    return task_create(flow=flow, actor=actor, data=data or {}, **kwargs)
