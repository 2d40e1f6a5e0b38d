"""``manage.py restore``: put a backup made by ``manage.py backup`` back, into an empty database and storage."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.backups.services import BackupError, backup_restore, backups_list, one_line


class Command(BaseCommand):
    help = (
        "Restore a backup (default: the newest complete one under BACKUP_TARGET) into an empty database, media "
        "storage and MLflow store. Every part's SHA-256 is checked before anything is changed; a corrupted or "
        "incomplete backup is refused naming the part. Ends by checking every model archive and dataset against "
        "its recorded SHA-256."
    )

    def add_arguments(self, parser):
        parser.add_argument("--target", help="Local folder or s3://bucket/prefix (default: BACKUP_TARGET).")
        parser.add_argument("--backup", help="Name of the backup to restore (default: the newest complete one).")
        parser.add_argument(
            "--force", action="store_true", help="Restore even into a database or storage that is not empty."
        )
        parser.add_argument("--list", action="store_true", help="List the backups under the target and stop.")

    def handle(self, *args, **options):
        target = options["target"] or settings.BACKUP_TARGET
        try:
            if options["list"]:
                for name, complete in backups_list(target=target):
                    self.stdout.write(f"{name}  {'complete' if complete else 'INCOMPLETE'}")
                return
            report = backup_restore(target=target, name=options["backup"], force=options["force"])
        except BackupError as exc:
            raise CommandError(f"Restore refused or failed: {exc}") from exc
        except Exception as exc:  # the target or a store failing underneath: one line, not a traceback
            raise CommandError(f"Restore failed: {one_line(exc)}") from exc
        self.stdout.write(
            f"Backup {report.name} restored from {target}: {', '.join(report.parts)}; {report.media_files} media and "
            f"{report.artifact_files} MLflow artifact files; {report.archives_checked} model archives and datasets "
            "match their recorded SHA-256" + ("; migrated forward" if report.migrated else "")
        )
