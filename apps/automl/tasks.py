"""Celery tasks of AutoML: thin wrappers taking ids and calling one service each.

``CELERY_TASK_ROUTES`` sends this module's tasks to the ``training`` queue; the periodic stale-job check
is sent to ``default`` by its beat entry, so it never waits behind long fits.
"""

from __future__ import annotations

import threading

from celery import current_app, shared_task
from celery.signals import worker_init, worker_process_init
from django.conf import settings
from django.db import InterfaceError, OperationalError

# The longest a training task may take: the largest budget plus the margin for data, archive and MLflow.
TRAINING_SOFT_LIMIT = settings.AUTOML_MAX_TIME_BUDGET + settings.AUTOML_TIME_LIMIT_MARGIN


@shared_task(
    bind=True,
    name="apps.automl.tasks.run_training_job",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=TRAINING_SOFT_LIMIT,
    time_limit=TRAINING_SOFT_LIMIT + 120,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    retry_backoff_max=60,
    max_retries=3,
)
def run_training_job(self, job_id: int) -> str:
    """Train a queued job. Each call sends its own soft/hard time limits, derived from the job's budget.

    Retries only when the database is briefly unreachable; a repeated delivery of a job that is already
    running or finished does nothing.
    """
    from apps.automl.services import training_job_run

    return training_job_run(job_id=job_id, worker=self.request.hostname or "")


@shared_task(
    name="apps.automl.tasks.sync_training_job_to_mlflow",
    autoretry_for=(Exception,),
    retry_backoff=settings.AUTOML_MLFLOW_SYNC_RETRY_BACKOFF,
    retry_backoff_max=settings.AUTOML_MLFLOW_SYNC_RETRY_BACKOFF_MAX,
    retry_jitter=False,
    max_retries=settings.AUTOML_MLFLOW_SYNC_MAX_RETRIES,
    soft_time_limit=300,
    time_limit=360,
)
def sync_training_job_to_mlflow(job_id: int) -> str:
    """Log the MLflow run of a job that trained while MLflow was unreachable; retried with backoff until it is
    back (routed to ``default``: it must not wait behind fits), then by the periodic sweep."""
    from apps.automl.services import training_job_mlflow_sync

    job = training_job_mlflow_sync(job_id=job_id)
    return job.mlflow_sync_status if job else "skipped"


@shared_task(name="apps.automl.tasks.sweep_training_job_mlflow_sync")
def sweep_training_job_mlflow_sync() -> int:
    """Periodic (celery beat): queue the MLflow sync of every job still waiting for it (after retries ran out)."""
    from apps.automl.services import training_jobs_mlflow_outstanding

    ids = training_jobs_mlflow_outstanding()
    for job_id in ids:
        sync_training_job_to_mlflow.delay(job_id)
    return len(ids)


@shared_task(name="apps.automl.tasks.reap_stale_training_jobs", acks_late=False)
def reap_stale_training_jobs() -> dict[str, list[int]]:
    """Periodic (celery beat): requeue or fail running jobs whose worker stopped sending heartbeats."""
    from apps.automl.services import training_jobs_reap_stale

    return training_jobs_reap_stale()


def _consumes_training_queue() -> bool:
    queues = getattr(current_app.amqp.queues, "consume_from", None)
    return not queues or "training" in queues


def _prepare_training_process() -> None:
    """Keep an AutoGluon runner imported and waiting, and get MLflow ready, in the background."""
    from apps.automl import tracking
    from apps.automl.training import WarmRunner

    WarmRunner.enable()
    threading.Thread(target=tracking.warm_up, name="mlflow-warm-up", daemon=True).start()


@worker_process_init.connect
def _warm_runner_in_pool_process(**kwargs) -> None:
    """Each prefork pool process of a training worker prepares for its first job."""
    if _consumes_training_queue():
        _prepare_training_process()


@worker_init.connect
def _warm_runner_in_worker(sender=None, **kwargs) -> None:
    """Pools that run tasks in the worker process itself (solo, threads) keep the warm runner there."""
    pool = getattr(getattr(sender, "pool_cls", None), "__module__", "") or ""
    if pool.endswith(("solo", "thread", "threads")) and _consumes_training_queue():
        _prepare_training_process()
