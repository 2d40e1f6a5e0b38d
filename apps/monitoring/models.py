"""Monitoring of production models: what they are asked (the prediction log), what they learned from (the
reference profile of each version, frozen once made), whether the two still look alike (drift reports), and how
right they still are (feedback on logged predictions)."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.models import TimeStampedModel
from apps.monitoring.choices import PredictionSource, ProfileStatus, ReportTrigger


def default_sample_rate() -> float:
    return settings.MONITORING_DEFAULT_SAMPLE_RATE


def default_retention_days() -> int:
    return settings.MONITORING_DEFAULT_RETENTION_DAYS


def default_window_hours() -> int:
    return settings.MONITORING_DEFAULT_WINDOW_HOURS


def default_drift_share() -> float:
    return settings.MONITORING_DEFAULT_DRIFT_SHARE


class ModelMonitor(TimeStampedModel):
    """How one registered model is watched: which share of its predictions is logged and for how long, the window
    and schedule of its drift reports, and the share of drifted features that flags it. Made with the defaults
    of the settings the first time it is needed."""

    registered_model = models.OneToOneField(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="monitor"
    )
    enabled = models.BooleanField(default=True, help_text="Log predictions and make scheduled drift reports.")
    sample_rate = models.FloatField(
        default=default_sample_rate,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of predictions logged (0 to 1).",
    )
    retention_days = models.PositiveIntegerField(
        default=default_retention_days, validators=[MinValueValidator(1)], help_text="Logged predictions older go."
    )
    window_hours = models.PositiveIntegerField(
        default=default_window_hours, validators=[MinValueValidator(1)], help_text="Predictions a report looks at."
    )
    report_interval_hours = models.PositiveIntegerField(
        default=24, validators=[MinValueValidator(1)], help_text="Hours between two scheduled drift reports."
    )
    drift_share = models.FloatField(
        default=default_drift_share,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="The model is flagged when at least this share of its features drift.",
    )
    last_scheduled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sample_rate__gte=0) & models.Q(sample_rate__lte=1), name="monitor_sample_rate_0_1"
            ),
            models.CheckConstraint(
                condition=models.Q(drift_share__gte=0) & models.Q(drift_share__lte=1), name="monitor_drift_share_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"Monitoring of {self.registered_model}"


class PredictionRecord(models.Model):
    """One logged prediction of a production version (one row of a request or of a batch), and its true outcome
    once someone sends it (``actual``)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    registered_model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="prediction_records"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="prediction_records"
    )
    source = models.CharField(max_length=8, choices=PredictionSource.choices, default=PredictionSource.ONLINE)
    batch_id = models.PositiveIntegerField(null=True, blank=True, help_text="The batch prediction it came from.")
    inputs = models.JSONField(default=dict)
    prediction = models.JSONField(null=True)
    probabilities = models.JSONField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True, help_text="Model time of the request it was part of.")
    caller = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(db_index=True)
    actual = models.JSONField(null=True, blank=True)
    actual_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["registered_model", "-created_at"], name="prediction_model_time"),
            models.Index(fields=["model_version", "-created_at"], name="prediction_version_time"),
        ]

    def __str__(self) -> str:
        return str(self.public_id)


class ReferenceProfile(TimeStampedModel):
    """What a version learned from, frozen once made after its registration: per feature the training
    distribution (histogram or category frequencies, missing share) and a seeded sample of the training rows,
    the predictions on the held-out split (distribution and sample), and the held-out metric."""

    model_version = models.OneToOneField(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="reference_profile"
    )
    status = models.CharField(max_length=8, choices=ProfileStatus.choices, default=ProfileStatus.READY)
    error = models.TextField(blank=True)
    n_rows = models.PositiveIntegerField(default=0, help_text="Training rows profiled.")
    n_heldout = models.PositiveIntegerField(default=0, help_text="Held-out rows predicted.")
    features = models.JSONField(default=dict, help_text="{feature: {kind, missing_share, histogram|frequencies}}")
    samples = models.JSONField(default=dict, help_text="{feature: [values]}: the sample drift tests compare to")
    predictions = models.JSONField(default=dict, help_text="{kind, histogram|frequencies, sample}: held-out split")
    metric = models.CharField(max_length=64, blank=True)
    metric_value = models.FloatField(null=True, blank=True, help_text="The metric on the held-out split.")

    def __str__(self) -> str:
        return f"Reference of {self.model_version}"


class DriftReport(TimeStampedModel):
    """Whether the predictions of a window look like the reference: per feature and for the predictions the test,
    statistic, threshold and verdict, PSI beside them, and the live metric from feedback."""

    registered_model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="drift_reports"
    )
    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.CASCADE, related_name="drift_reports")
    trigger = models.CharField(max_length=16, choices=ReportTrigger.choices, default=ReportTrigger.MANUAL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    n_current = models.PositiveIntegerField(default=0)
    n_reference = models.PositiveIntegerField(default=0)
    features = models.JSONField(default=list)
    prediction_drift = models.JSONField(default=dict, blank=True)
    live_metric = models.JSONField(default=dict, blank=True)
    n_features = models.PositiveIntegerField(default=0)
    n_drifted = models.PositiveIntegerField(default=0)
    drift_share = models.FloatField(default=0.0, help_text="Share of features that drifted.")
    share_threshold = models.FloatField(default=0.5)
    flagged = models.BooleanField(default=False)
    notified = models.BooleanField(
        default=False,
        help_text="Whether this report notified the project: when the model became flagged, then at most once per "
        "MONITORING_RENOTIFY_DAYS while it stays flagged.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["registered_model", "-created_at"], name="drift_report_model_time")]

    def __str__(self) -> str:
        return f"Drift report {self.pk} of {self.registered_model}"
