from django.db import models

from apps.core.models import TimeStampedModel


class BackupOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class BackupRecord(TimeStampedModel):
    """One run of ``manage.py backup`` (or its scheduled task): when, where to, how it ended and how big it was.

    Written once the run has ended, so a backup never contains its own record; ``/metrics`` reads these rows
    (age of the last good backup, outcome of the last one)."""

    name = models.CharField(max_length=100, blank=True, help_text="Folder of the backup under its target.")
    target = models.CharField(max_length=500, help_text="Local folder or s3://bucket/prefix (no credentials).")
    outcome = models.CharField(max_length=10, choices=BackupOutcome.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(db_index=True)
    size_bytes = models.BigIntegerField(default=0, help_text="Bytes of every part and the manifest.")
    parts = models.JSONField(default=dict, blank=True, help_text="{part: {file, sha256, size}}")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-finished_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome__in=["succeeded", "failed"]), name="backup_record_outcome_valid"
            ),
            models.CheckConstraint(condition=models.Q(size_bytes__gte=0), name="backup_record_size_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name or 'backup'} ({self.outcome})"
