"""Create the first operator account: `admin` with a random password printed once."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts.roles import Role


class Command(BaseCommand):
    help = "Create an `admin` superuser (in the `admin` role) with a random password when no superuser exists yet."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@localhost")

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("A superuser exists already; nothing created.")
            return
        password = secrets.token_urlsafe(18)
        user = User.objects.create_superuser(username=options["username"], email=options["email"], password=password)
        user.groups.add(Group.objects.get(name=Role.ADMIN))
        self.stdout.write(
            self.style.SUCCESS(
                f"Created superuser '{options['username']}' with password: {password}\n"
                "It is shown only this once: store it now (change it in the admin)."
            )
        )
