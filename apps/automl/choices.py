from django.db import models

from apps.core.models import WorkStatus

# A training job is background work: its states are every background work's states.
JobStatus = WorkStatus


class TrackingStatus(models.TextChoices):
    """Whether a job's MLflow run is logged: a job trains while MLflow is down and its run is logged later."""

    SYNCED = "synced", "Logged to MLflow"
    PENDING = "pending", "Waiting for MLflow"


class TaskType(models.TextChoices):
    AUTO = "auto", "Detect automatically"
    BINARY = "binary", "Binary classification"
    MULTICLASS = "multiclass", "Multiclass classification"
    REGRESSION = "regression", "Regression"


# Evaluation metrics AutoGluon accepts for each kind of task (names from ``autogluon.core.metrics``).
BINARY_METRICS = frozenset(
    {
        "accuracy", "acc", "balanced_accuracy", "average_precision", "f1", "f1_macro", "f1_micro", "f1_weighted",
        "log_loss", "mcc", "precision", "precision_macro", "precision_micro", "precision_weighted",
        "quadratic_kappa", "recall", "recall_macro", "recall_micro", "recall_weighted", "roc_auc",
    }
)  # fmt: skip
MULTICLASS_METRICS = frozenset(
    {
        "accuracy", "acc", "balanced_accuracy", "f1_macro", "f1_micro", "f1_weighted", "log_loss", "mcc",
        "precision_macro", "precision_micro", "precision_weighted", "quadratic_kappa", "recall_macro",
        "recall_micro", "recall_weighted", "roc_auc_ovo", "roc_auc_ovo_macro", "roc_auc_ovo_weighted",
        "roc_auc_ovr", "roc_auc_ovr_macro", "roc_auc_ovr_micro", "roc_auc_ovr_weighted",
    }
)  # fmt: skip
REGRESSION_METRICS = frozenset(
    {
        "root_mean_squared_error", "rmse", "mean_squared_error", "mse", "mean_absolute_error", "mae",
        "median_absolute_error", "mean_absolute_percentage_error", "mape", "symmetric_mean_absolute_percentage_error",
        "smape", "r2", "pearsonr", "spearmanr",
    }
)  # fmt: skip
METRICS_BY_TASK: dict[str, frozenset[str]] = {
    TaskType.BINARY: BINARY_METRICS,
    TaskType.MULTICLASS: MULTICLASS_METRICS,
    TaskType.REGRESSION: REGRESSION_METRICS,
}
TERMINAL_STATES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
