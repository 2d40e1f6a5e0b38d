from django.conf import settings
from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from apps.automl.choices import JobStatus, TaskType
from apps.core.models import TimeStampedModel

ACTIVE_STATES = [JobStatus.QUEUED, JobStatus.RUNNING]


class TrainingJob(ConcurrentTransitionMixin, TimeStampedModel):
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

    # Progress
    status = FSMField(default=JobStatus.QUEUED, choices=JobStatus.choices, protected=True, db_index=True)
    progress = models.FloatField(default=0.0)
    current_best = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=255, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requeue_count = models.PositiveSmallIntegerField(default=0, help_text="Times a lost worker's job was requeued.")

    # Results
    leaderboard = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    best_model = models.CharField(max_length=255, blank=True)
    features = models.JSONField(default=list, blank=True, help_text="[{name, dtype}] the predictor was fitted on")
    class_labels = models.JSONField(default=list, blank=True)
    split = models.JSONField(default=dict, blank=True, help_text="How the data was split: rows, stratified, seed.")
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds spent in each step of the run.")
    eval_metric = models.CharField(max_length=64, blank=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
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

    # Transitions: side-effect free; services call them inside atomic() and save().
    @transition(field=status, source=JobStatus.QUEUED, target=JobStatus.RUNNING)
    def start(self) -> None:
        """The worker picked the job up."""

    @transition(field=status, source=JobStatus.RUNNING, target=JobStatus.SUCCEEDED)
    def succeed(self) -> None:
        """Training finished and its results are stored."""

    @transition(field=status, source=ACTIVE_STATES, target=JobStatus.FAILED)
    def fail(self) -> None:
        """Training stopped with an error."""

    @transition(field=status, source=ACTIVE_STATES, target=JobStatus.CANCELLED)
    def cancel(self) -> None:
        """A user cancelled the job."""

    @transition(field=status, source=JobStatus.RUNNING, target=JobStatus.QUEUED)
    def requeue(self) -> None:
        """The worker running the job was lost; the job goes back to the queue."""


class TrainingJobEvent(models.Model):
    """Append-only history of a job's state changes."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True)
    from_state = models.CharField(max_length=16)
    to_state = models.CharField(max_length=16)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.from_state} → {self.to_state}"
