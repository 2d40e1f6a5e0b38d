"""MLflow tracking of training jobs: one experiment per project, one parent run per job with its request,
test metrics and leaderboard, and one nested child run per leaderboard model.

MLflow is spoken to through an explicit ``MlflowClient`` on ``settings.MLFLOW_TRACKING_URI`` (no global
"active run"), so several jobs in one worker process never mix their runs.
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from django.conf import settings

from apps.core.mlflow_store import mlflow_client

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from apps.automl.models import TrainingJob

# Only one thread of a process creates experiments at a time (MLflow has no "get or create").
_experiment_lock = threading.Lock()
MAX_PARAM_LENGTH = 6000


def warm_up() -> None:
    """Import MLflow and open its store ahead of the first job, so that a worker process's first job does
    not spend seconds of CPU on it while AutoGluon fits. Called in a background thread at worker start."""
    import logging

    try:
        mlflow_client().search_experiments(max_results=1)
    except Exception:  # noqa: BLE001 - the first job reports tracking problems to its user
        logging.getLogger("maestro.automl").warning("MLflow is not reachable yet", exc_info=True)


def experiment_name(*, project_id: int) -> str:
    return f"{settings.MLFLOW_EXPERIMENT_PREFIX}/project-{project_id}"


def _artifact_location(name: str) -> str | None:
    """Where a new experiment keeps artifacts: under MLFLOW_ARTIFACT_ROOT, unless a tracking server decides."""
    if urlparse(settings.MLFLOW_TRACKING_URI).scheme in ("http", "https"):
        return None
    root = str(settings.MLFLOW_ARTIFACT_ROOT)
    if "://" in root:
        return f"{root.rstrip('/')}/{name}"
    path = Path(root) / name
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve().as_uri()


def project_experiment_id(*, client: MlflowClient, project_id: int) -> str:
    """The id of the project's experiment, created on first use."""
    from mlflow.exceptions import MlflowException

    name = experiment_name(project_id=project_id)
    with _experiment_lock:
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return client.create_experiment(
                name, artifact_location=_artifact_location(name), tags={"maestro.project_id": str(project_id)}
            )
        except MlflowException:  # another process created it in between
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return experiment.experiment_id


def _param(key: str, value: Any):
    from mlflow.entities import Param

    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return Param(key, text[:MAX_PARAM_LENGTH])


def _metrics(values: dict[str, Any], *, prefix: str = "") -> list:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = []
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        metrics.append(Metric(f"{prefix}{key}", float(value), now, 0))
    return metrics


def job_run_start(*, job: TrainingJob) -> str:
    """Open the job's parent run with the request as params; return its run id."""
    client = mlflow_client()
    experiment_id = project_experiment_id(client=client, project_id=job.project_id)
    run = client.create_run(
        experiment_id,
        run_name=f"job-{job.pk}",
        tags={
            "maestro.job_id": str(job.pk),
            "maestro.project_id": str(job.project_id),
            "maestro.dataset_id": str(job.dataset_id),
            "maestro.created_by": job.created_by.get_username(),
        },
    )
    params = {
        "target": job.target,
        "task_type": job.task_type,
        "time_budget": job.time_budget,
        "presets": job.presets,
        "metric": job.metric or "auto",
        "dataset_id": job.dataset_id,
        "dataset_sha256": job.dataset_sha256,
        "test_size": job.test_size,
        "random_seed": job.random_seed,
        "hyperparameters": job.hyperparameters or "presets default",
    }
    client.log_batch(run.info.run_id, params=[_param(key, value) for key, value in params.items()])
    return run.info.run_id


def job_run_find(*, job: TrainingJob) -> str | None:
    """The id of the job's parent run if one was already created (a sync retried after a partial attempt)."""
    client = mlflow_client()
    experiment = client.get_experiment_by_name(experiment_name(project_id=job.project_id))
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`maestro.job_id` = '{job.pk}' and attributes.run_name = 'job-{job.pk}'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def job_run_finish(*, job: TrainingJob, run_id: str, result: dict, split: dict) -> None:
    """Log the outcome to the parent run (metrics, leaderboard CSV), one child run per model, and close it."""
    from mlflow.entities import RunTag

    client = mlflow_client()
    parent = client.get_run(run_id)
    experiment_id = parent.info.experiment_id
    best = next((row for row in result["leaderboard"] if row["model"] == result["best_model"]), {})
    client.log_batch(
        run_id,
        params=[
            _param("problem_type", result["problem_type"]),
            _param("eval_metric", result["eval_metric"]),
            _param("best_model", result["best_model"]),
            _param("train_rows", split.get("train_rows")),
            _param("test_rows", split.get("test_rows")),
        ],
        metrics=_metrics(result["metrics"], prefix="test_")
        + _metrics({"best_score_val": best.get("score_val"), "fit_seconds": result.get("fit_seconds")}),
        tags=[RunTag("maestro.best_model", result["best_model"])],
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "leaderboard.csv"
        columns = ["model", "score_val", "score_test", "fit_time", "pred_time_val", "pred_time_test", "stack_level"]
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(result["leaderboard"])
        client.log_artifact(run_id, str(path))
    for row in result["leaderboard"]:
        child = client.create_run(
            experiment_id,
            run_name=row["model"],
            tags={"mlflow.parentRunId": run_id, "maestro.job_id": str(job.pk), "maestro.model": row["model"]},
        )
        client.log_batch(
            child.info.run_id,
            params=[_param("model", row["model"]), _param("stack_level", row.get("stack_level"))],
            metrics=_metrics(
                {
                    key: row.get(key)
                    for key in ("score_val", "score_test", "fit_time", "pred_time_val", "pred_time_test")
                }
            ),
            tags=[RunTag("maestro.best", str(row["model"] == result["best_model"]).lower())],
        )
        client.set_terminated(child.info.run_id, status="FINISHED")
    client.set_terminated(run_id, status="FINISHED")


def job_run_end(*, run_id: str, status: str) -> None:
    """Close a run that did not finish (``FAILED`` or ``KILLED``)."""
    mlflow_client().set_terminated(run_id, status=status)
