from django.conf import settings
from django.db import models

from apps.core.models import BackgroundWork, TimeStampedModel, WorkEvent
from apps.registry.choices import DeploymentAction, SyncStatus, VersionStatus


class RegisteredModel(TimeStampedModel):
    """A named model within a project; its versions are successive trainings, one may be in production."""

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="registered_models")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    production_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="registered_models"
    )
    mlflow_name = models.CharField(
        max_length=255, blank=True, help_text="Name in the MLflow model registry (unique across projects)."
    )
    mlflow_sync_status = models.CharField(
        max_length=16,
        choices=SyncStatus.choices,
        default=SyncStatus.PENDING,
        help_text="Whether MLflow's registered model and its 'production' alias match this row.",
    )
    mlflow_sync_error = models.TextField(blank=True)
    mlflow_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="registered_model_unique_in_project")]

    def __str__(self) -> str:
        return self.name


class ModelVersion(TimeStampedModel):
    """One trained model: what it was trained on, how it scored, and its hashed artifact."""

    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.REGISTERED)
    metrics = models.JSONField(default=dict, blank=True)
    features = models.JSONField(default=list, help_text="[{name, dtype}] the model was trained on")
    target = models.CharField(max_length=255)
    task_type = models.CharField(max_length=16)
    class_labels = models.JSONField(default=list, blank=True)
    artifact = models.FileField(max_length=500)
    artifact_sha256 = models.CharField(max_length=64)
    artifact_size = models.BigIntegerField(null=True, blank=True)
    job = models.ForeignKey(
        "automl.TrainingJob", null=True, blank=True, on_delete=models.PROTECT, related_name="model_versions"
    )
    dataset = models.ForeignKey("projects.Dataset", on_delete=models.PROTECT, related_name="model_versions")
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    mlflow_version = models.CharField(max_length=32, blank=True)
    mlflow_sync_status = models.CharField(max_length=16, choices=SyncStatus.choices, default=SyncStatus.PENDING)
    mlflow_sync_error = models.TextField(blank=True)
    intended_use = models.TextField(blank=True)
    limitations = models.TextField(blank=True)
    card = models.JSONField(default=dict, blank=True)
    card_generated_at = models.DateTimeField(null=True, blank=True)
    card_inputs_sha256 = models.CharField(
        max_length=64, blank=True, help_text="Hash of what the card was made from; a change regenerates it."
    )
    eval_metric = models.CharField(max_length=64, blank=True)
    best_model = models.CharField(max_length=255, blank=True, help_text="AutoGluon's name of the best model.")
    leaderboard = models.JSONField(default=list, blank=True)
    evaluation = models.JSONField(
        default=dict, blank=True, help_text="The training job's evaluation on its held-out split, for the plots."
    )
    mlflow_sync_attempts = models.PositiveIntegerField(default=0)
    mlflow_synced_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="model_versions"
    )

    class Meta:
        ordering = ["registered_model_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["registered_model", "version"], name="model_version_unique"),
            models.UniqueConstraint(fields=["job"], condition=models.Q(job__isnull=False), name="one_version_per_job"),
            models.UniqueConstraint(
                fields=["registered_model"],
                condition=models.Q(status=VersionStatus.PRODUCTION),
                name="one_production_version_per_model",
            ),
        ]
        permissions = [("deploy_modelversion", "Can deploy a model version")]

    def __str__(self) -> str:
        return f"{self.registered_model.name} v{self.version}"


class Deployment(TimeStampedModel):
    """A change of a registered model's production version (deploy or rollback). Append-only."""

    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="deployments")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="deployments")
    previous_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=16, choices=DeploymentAction.choices, default=DeploymentAction.DEPLOY)
    deployed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deployments")
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.model_version} by {self.deployed_by}"


class BatchPrediction(BackgroundWork):
    """Predictions for a whole dataset, made by a worker and stored as a CSV (status and history:
    ``BackgroundWork``; a batch whose worker keeps dying is failed after ``max_attempts``)."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="batch_predictions")
    dataset = models.ForeignKey("projects.Dataset", on_delete=models.PROTECT, related_name="batch_predictions")
    result_file = models.FileField(max_length=500, blank=True)
    n_rows = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Batch {self.pk} ({self.status})"


class BatchPredictionEvent(WorkEvent):
    """Append-only history of a batch prediction's state changes."""

    batch = models.ForeignKey(BatchPrediction, on_delete=models.CASCADE, related_name="events")

    def __str__(self) -> str:
        return f"batch {self.batch_id}: {self.from_state} → {self.to_state}"
