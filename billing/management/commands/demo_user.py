"""``manage.py demo_user``: a verified demo account with an API token, for trying the service."""

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand, CommandParser

from accounts.models import ApiToken, User
from billing.models import Plan, Subscription


class Command(BaseCommand):
    help = "Create (or reuse) a verified demo user and print a new API token for it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="demo@example.com")
        parser.add_argument("--password", default="Demo-password-1")

    def handle(self, *args, **opts) -> None:
        email = opts["email"].lower()
        existing = User.objects.filter(email=email).first()
        created = existing is None
        user = existing or User.objects.create_user(email, opts["password"], name="Demo")
        EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
        # The demo should not run into Free's 2 images a month: staff-assigned Enterprise.
        Subscription.objects.get_or_create(
            workspace=user.personal_workspace, defaults={"plan": Plan.objects.get(slug="enterprise")}
        )
        _, key = ApiToken.issue(user, user.personal_workspace, "demo")
        password = opts["password"] if created else "(unchanged)"
        self.stdout.write(f"Demo user: {email} / {password}")
        self.stdout.write(f"API token: {key}")
