from __future__ import annotations

from django.conf import settings
from django.db import models
from django_fsm import transition

from apps.automl.choices import JobStatus, TaskType, TrackingStatus
from apps.core.models import ACTIVE_WORK_STATES, BackgroundWork, WorkEvent

ACTIVE_STATES = ACTIVE_WORK_STATES


def may_cancel(instance: TrainingJob, user) -> bool:
    """``permission=`` of ``cancel``: a project editor whose role includes ``automl:cancel``."""
    from apps.projects.choices import ProjectRole
    from apps.projects.permissions import user_may

    return user_may(user, instance.project, minimum=ProjectRole.EDITOR, capability="automl:cancel")


class TrainingJob(BackgroundWork):
    """One AutoML run: the request, its progress, and what it produced (leaderboard, metrics, archive)."""

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="training_jobs")
    dataset = models.ForeignKey("projects.Dataset", on_delete=models.PROTECT, related_name="training_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="training_jobs")

    # The request
    target = models.CharField(max_length=255)
    task_type = models.CharField(max_length=16, choices=TaskType.choices, default=TaskType.AUTO)
    problem_type = models.CharField(max_length=16, blank=True, help_text="The task type actually trained.")
    time_budget = models.PositiveIntegerField(help_text="Seconds AutoGluon may spend fitting.")
    metric = models.CharField(max_length=64, blank=True)
    presets = models.CharField(max_length=64, default="medium_quality")
    registered_model_name = models.CharField(max_length=200, blank=True)
    test_size = models.FloatField(default=0.2)
    random_seed = models.PositiveIntegerField(default=0)
    hyperparameters = models.JSONField(
        default=dict, blank=True, help_text="Model families AutoGluon may fit ({} = the presets' choice)."
    )
    dataset_sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the data trained on.")

    # Progress (status, error, attempts, timestamps: BackgroundWork)
    progress = models.FloatField(default=0.0)
    current_best = models.JSONField(default=dict, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requeue_count = models.PositiveSmallIntegerField(default=0, help_text="Times a lost worker's job was requeued.")

    # Results
    leaderboard = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    evaluation = models.JSONField(
        default=dict, blank=True, help_text="Confusion matrix and curves, or predicted vs actual, on the test split."
    )
    best_model = models.CharField(max_length=255, blank=True)
    features = models.JSONField(default=list, blank=True, help_text="[{name, dtype}] the predictor was fitted on")
    class_labels = models.JSONField(default=list, blank=True)
    split = models.JSONField(default=dict, blank=True, help_text="How the data was split: rows, stratified, seed.")
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds spent in each step of the run.")
    eval_metric = models.CharField(max_length=64, blank=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    mlflow_sync_status = models.CharField(
        max_length=16,
        choices=TrackingStatus.choices,
        default=TrackingStatus.SYNCED,
        help_text="Pending while the job's MLflow run waits for MLflow to be reachable again.",
    )
    artifact = models.FileField(max_length=500, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    artifact_size = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__gte=0, progress__lte=1), name="job_progress_0_1"),
            models.CheckConstraint(condition=models.Q(time_budget__gt=0), name="job_time_budget_positive"),
        ]

    def __str__(self) -> str:
        return f"Job {self.pk} ({self.target}, {self.status})"

    def get_max_attempts(self) -> int:
        return settings.AUTOML_MAX_REQUEUES + 1

    @transition(field="status", source=ACTIVE_STATES, target=JobStatus.CANCELLED, permission=may_cancel)
    def cancel(self) -> None:
        """A user cancelled the job (or the reaper did, as they had asked); services check ``may_cancel``."""


class TrainingJobEvent(WorkEvent):
    """Append-only history of a job's state changes."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="events")

    def __str__(self) -> str:
        return f"{self.job_id}: {self.from_state} → {self.to_state}"
