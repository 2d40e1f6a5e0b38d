from django.db import models


class PredictionSource(models.TextChoices):
    ONLINE = "online", "Online"
    BATCH = "batch", "Batch"


class ReportTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "On demand"


class ProfileStatus(models.TextChoices):
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
