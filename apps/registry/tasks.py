"""Celery tasks of the registry (queue ``default``): thin, take ids, call one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from apps.registry.mlflow_sync import MlflowSyncFailed

TRANSIENT_DB = (OperationalError, InterfaceError)
logger = logging.getLogger("maestro.registry")


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


# How many times the task looks again for a batch it cannot find: the request that queued it sends the
# task just before its transaction commits (services._batch_prediction_send).
BATCH_VISIBILITY_RETRIES = 5


@shared_task(
    bind=True,
    name="apps.registry.tasks.run_batch_prediction",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_DB,
    max_retries=BATCH_VISIBILITY_RETRIES,
    soft_time_limit=max(60, settings.BATCH_PREDICTION_TIME_LIMIT - 300),
    time_limit=settings.BATCH_PREDICTION_TIME_LIMIT,
)
def run_batch_prediction(self, batch_id: int) -> str | None:
    from apps.registry import services

    batch = services.batch_prediction_run(batch_id=batch_id, task_id=self.request.id)
    if batch is None:
        if self.request.retries < BATCH_VISIBILITY_RETRIES:
            raise self.retry(countdown=1 + 2 * self.request.retries)
        logger.warning("Batch prediction %s does not exist (its request was rolled back); nothing to do", batch_id)
        return None
    return batch.status


@shared_task(name="apps.registry.tasks.reap_stale_batch_predictions", acks_late=False)
def reap_stale_batch_predictions() -> list[int]:
    """Periodic (celery beat): fail batches still running past their hard time limit."""
    from apps.registry.services import batch_predictions_reap_stale

    return batch_predictions_reap_stale()
