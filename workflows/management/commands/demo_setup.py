"""Creates (or refreshes) the demo organization, flow and login that `make run` prints."""

import os

from django.core.management.base import BaseCommand
from django.db import transaction

from flows.models import Organization, User
from flows.services import flow_create, organization_create
from workflows.demo import demo_populate

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "flowsite-demo"


class Command(BaseCommand):
    help = "Create the demo organization, flow and login, and print the credentials."

    def handle(self, *args, **options):
        with transaction.atomic():
            user = User.objects.filter(email=DEMO_EMAIL).first()
            if user is None:
                user = User.objects.create_user(
                    email=DEMO_EMAIL, password=DEMO_PASSWORD, first_name="Demo", last_name="User", nick="demo"
                )
            else:
                user.set_password(DEMO_PASSWORD)
                user.save()
            organization = Organization.objects.filter(parameterized_name="demo").first()
            if organization is None:
                organization = organization_create(user=user, name="Demo")
            flow = organization.flows.filter(parameterized_name="sales-pipeline").first()
            if flow is None:
                flow = flow_create(user=user, organization=organization, name="Sales Pipeline", module="tasks")

            demo_populate(flow=flow, user=user)
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDemo ready. Log in at {os.environ.get('DEMO_BASE_URL', 'http://127.0.0.1:8000')}/login with\n"
                f"  email:    {DEMO_EMAIL}\n  password: {DEMO_PASSWORD}\n"
                f"The demo flow is at /flows/{organization.parameterized_name}/{flow.parameterized_name}\n"
            )
        )
