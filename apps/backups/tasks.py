from celery import shared_task
from django.conf import settings


@shared_task(
    name="apps.backups.tasks.backup",
    acks_late=False,  # a redelivered backup would only write a second one; a lost one shows as an ageing metric
    soft_time_limit=settings.BACKUP_TASK_TIME_LIMIT - 60,
    time_limit=settings.BACKUP_TASK_TIME_LIMIT,
)
def backup() -> str:
    """The scheduled backup (celery-beat, ``BACKUP_SCHEDULE``): one backup to ``BACKUP_TARGET``, then retention.
    The outcome is recorded either way (``BackupRecord``, exported on /metrics)."""
    from apps.backups.services import backup_create, backups_prune

    result = backup_create(target=settings.BACKUP_TARGET)
    backups_prune(
        target=settings.BACKUP_TARGET, keep_daily=settings.BACKUP_KEEP_DAILY, keep_weekly=settings.BACKUP_KEEP_WEEKLY
    )
    return result.name
