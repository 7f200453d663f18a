"""``manage.py demo_user``: a verified demo account with an API token, for trying the service."""

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand, CommandParser

from accounts.models import ApiToken, User


class Command(BaseCommand):
    help = "Create (or reuse) a verified demo user and print a new API token for it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="demo@example.com")
        parser.add_argument("--password", default="Demo-password-1")

    def handle(self, *args, **opts) -> None:
        email = opts["email"].lower()
        user = User.objects.filter(email=email).first()
        created = user is None
        if created:
            user = User.objects.create_user(email, opts["password"], name="Demo")
        EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
        _, key = ApiToken.issue(user, user.personal_workspace, "demo")
        password = opts["password"] if created else "(unchanged)"
        self.stdout.write(f"Demo user: {email} / {password}")
        self.stdout.write(f"API token: {key}")
