"""Write a .env with strong random secrets (never replacing an existing one without --force)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.core.secrets_env import add_generate_arguments, generate


class Command(BaseCommand):
    help = (
        "Write DJANGO_SECRET_KEY, POSTGRES_PASSWORD, S3 keys and GRAFANA_ADMIN_PASSWORD with strong random "
        "values to .env (mode 600). An existing file is kept unless --force is given."
    )

    def add_arguments(self, parser):
        add_generate_arguments(parser)

    def handle(self, *args, **options):
        if generate(options["output"], force=options["force"], stdout=self.stdout) != 0:
            raise CommandError("Nothing written: the file exists already (use --force to replace it).")
