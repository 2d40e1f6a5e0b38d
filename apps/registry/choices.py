from django.db import models

from apps.core.models import WorkStatus


class VersionStatus(models.TextChoices):
    REGISTERED = "registered", "Registered"
    PRODUCTION = "production", "Production"
    ARCHIVED = "archived", "Archived"


class SyncStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SYNCED = "synced", "Synced"
    FAILED = "failed", "Failed"


class DeploymentAction(models.TextChoices):
    DEPLOY = "deploy", "Deploy"
    ROLLBACK = "rollback", "Rollback"


# A batch prediction is background work: its states are every background work's states.
BatchStatus = WorkStatus
