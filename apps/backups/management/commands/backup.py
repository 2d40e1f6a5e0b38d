"""``manage.py backup``: a verified backup of the database, the media files and MLflow's store and artifacts to
BACKUP_TARGET (or --target), then retention. Exit 0 on success; otherwise one line on stderr and exit 1."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.backups.services import BackupError, backup_create, backups_prune, one_line


class Command(BaseCommand):
    help = (
        "Back up Maestro ML's database, media files (datasets, model archives, plots), MLflow's backend store and "
        "artifact root, with a manifest of SHA-256 hashes, to a local folder or s3://bucket/prefix; then delete "
        "the backups retention does not keep."
    )

    def add_arguments(self, parser):
        parser.add_argument("--target", help="Local folder or s3://bucket/prefix (default: BACKUP_TARGET).")
        parser.add_argument("--keep-daily", type=int, help="Daily backups to keep (default: BACKUP_KEEP_DAILY).")
        parser.add_argument("--keep-weekly", type=int, help="Weekly backups to keep (default: BACKUP_KEEP_WEEKLY).")
        parser.add_argument("--no-prune", action="store_true", help="Delete no older backup.")

    def handle(self, *args, **options):
        target = options["target"] or settings.BACKUP_TARGET
        keep_daily = options["keep_daily"] if options["keep_daily"] is not None else settings.BACKUP_KEEP_DAILY
        keep_weekly = options["keep_weekly"] if options["keep_weekly"] is not None else settings.BACKUP_KEEP_WEEKLY
        try:
            result = backup_create(target=target)
        except BackupError as exc:
            raise CommandError(f"Backup failed: {exc}") from exc
        pruned = []
        if not options["no_prune"]:
            try:
                pruned = backups_prune(target=target, keep_daily=keep_daily, keep_weekly=keep_weekly)
            except Exception as exc:  # the backup stands; say in one line why older ones were not deleted
                raise CommandError(f"Backup {result.name} written, but retention failed: {one_line(exc)}") from exc
        self.stdout.write(
            f"Backup {result.name} written to {target}: {len(result.parts)} parts, {result.size} bytes"
            + (f"; retention deleted {len(pruned)}: {', '.join(pruned)}" if pruned else "")
        )
