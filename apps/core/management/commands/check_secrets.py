"""Report every required secret that is missing, a well-known default, a placeholder or too weak."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.core.secrets_env import check_secret_values, format_report, parse_env_file


class Command(BaseCommand):
    help = (
        "Check DJANGO_SECRET_KEY, the database password, the S3 keys, Grafana's admin password and any "
        "MLflow / Redis credentials. Exits non-zero when one is missing, default or weak. Never prints values."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--env-file", help="Check the values in this .env file instead of this process's environment."
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--deployment",
            dest="deployment",
            action="store_true",
            default=None,
            help="Check as for docker-compose / Kubernetes: S3 and Grafana secrets are required "
            "(the default under production settings).",
        )
        mode.add_argument(
            "--embedded", dest="deployment", action="store_false", help="Check as for the embedded default."
        )

    def handle(self, *args, **options):
        deployment = options["deployment"]
        if deployment is None:
            deployment = getattr(settings, "SECRETS_DEPLOYMENT", False)
        if options["env_file"]:
            path = Path(options["env_file"])
            if not path.is_file():
                raise CommandError(f"{path} does not exist.")
            values = parse_env_file(path)
        else:
            values = dict(os.environ)
            values.setdefault("DJANGO_SECRET_KEY", settings.SECRET_KEY)
            values.setdefault("DATABASE_URL", settings.DATABASE_URL)
            values.setdefault("STORAGE_BACKEND", settings.STORAGE_BACKEND)
        results = check_secret_values(values, deployment=deployment)
        for line in format_report(results):
            self.stdout.write(line)
        failed = [result.name for result in results if result.failed]
        if failed:
            raise CommandError(f"{len(failed)} secret(s) missing, default or weak: {', '.join(failed)}.")
        self.stdout.write(self.style.SUCCESS("Every required secret is set and strong."))
