"""Celery tasks of the registry (queue ``default``): thin, take ids, call one service."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from apps.registry.mlflow_sync import MlflowSyncFailed

TRANSIENT_DB = (OperationalError, InterfaceError)


@shared_task(
    name="apps.registry.tasks.register_model_version_from_job",
    autoretry_for=TRANSIENT_DB,
    retry_backoff=True,
    max_retries=5,
)
def register_model_version_from_job(job_id: int) -> int:
    from apps.registry.services import model_version_register_from_job

    return model_version_register_from_job(job_id=job_id).pk


@shared_task(
    name="apps.registry.tasks.sync_registered_model_to_mlflow",
    autoretry_for=(MlflowSyncFailed, *TRANSIENT_DB),
    retry_backoff=15,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=12,
    soft_time_limit=300,
    time_limit=360,
)
def sync_registered_model_to_mlflow(registered_model_id: int) -> str:
    from apps.registry.mlflow_sync import registered_model_mlflow_sync

    registered_model = registered_model_mlflow_sync(registered_model_id=registered_model_id)
    return registered_model.mlflow_sync_status if registered_model else "skipped"


@shared_task(name="apps.registry.tasks.sweep_mlflow_sync")
def sweep_mlflow_sync() -> int:
    """Re-queue the MLflow sync of every registered model still out of step (after retries ran out)."""
    from apps.registry.mlflow_sync import mlflow_sync_outstanding

    ids = mlflow_sync_outstanding()
    for registered_model_id in ids:
        sync_registered_model_to_mlflow.delay(registered_model_id)
    return len(ids)


@shared_task(
    name="apps.registry.tasks.delete_mlflow_model_version",
    autoretry_for=(MlflowSyncFailed, *TRANSIENT_DB),
    retry_backoff=30,
    max_retries=8,
)
def delete_mlflow_model_version(mlflow_name: str, mlflow_version: str) -> None:
    from apps.registry.mlflow_sync import mlflow_model_version_delete

    mlflow_model_version_delete(mlflow_name=mlflow_name, mlflow_version=mlflow_version)


@shared_task(
    name="apps.registry.tasks.run_batch_prediction",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_DB,
    max_retries=3,
    soft_time_limit=3000,
    time_limit=3600,
)
def run_batch_prediction(batch_id: int) -> str | None:
    from apps.registry.services import batch_prediction_run

    batch = batch_prediction_run(batch_id=batch_id)
    return batch.status if batch else None
