"""``manage.py demo_user``: a demo account with an API token, for trying the service."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create (or reuse) a demo user and print its API token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="demo@example.com")
        parser.add_argument("--password", default="Demo-password-1")

    def handle(self, *args, **opts) -> None:
        User = get_user_model()
        user, created = User.objects.get_or_create(username=opts["email"], defaults={"email": opts["email"]})
        if created:
            user.set_password(opts["password"])
            user.save()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(f"Demo user: {opts['email']} / {opts['password'] if created else '(unchanged)'}")
        self.stdout.write(f"API token: {token.key}")
