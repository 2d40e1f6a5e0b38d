"""A job that trained while MLflow was unreachable gets its MLflow run logged afterwards (the service behind the
retried task and the sweep), its registered versions are linked to that run, and an unreachable MLflow leaves
it waiting. The real worker and a stopped MLflow server: tests/integration/test_mlflow_outage.py."""

from __future__ import annotations

import pytest
from django.conf import settings
from mlflow import MlflowClient

from apps.automl.choices import TrackingStatus
from apps.automl.services import training_job_mlflow_sync, training_jobs_mlflow_outstanding
from apps.automl.tasks import sync_training_job_to_mlflow
from apps.core.resilience import CacheCircuitStorage, CircuitBreakerError
from apps.registry.services import model_version_register_from_job

pytestmark = pytest.mark.django_db


def test_a_deferred_run_is_logged_later_and_linked_to_the_jobs_versions(make_job):
    job = make_job("iris", mlflow_run_id="", mlflow_sync_status=TrackingStatus.PENDING)
    version = model_version_register_from_job(job_id=job.pk)
    assert version.mlflow_run_id == ""
    assert job.pk in training_jobs_mlflow_outstanding()

    job = training_job_mlflow_sync(job_id=job.pk)
    assert job.mlflow_sync_status == TrackingStatus.SYNCED and job.mlflow_run_id
    assert job.pk not in training_jobs_mlflow_outstanding()
    run = MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI).get_run(job.mlflow_run_id)
    assert run.info.status == "FINISHED" and run.data.tags["maestro.job_id"] == str(job.pk)
    assert run.data.params["best_model"] == job.best_model
    version.refresh_from_db()
    assert version.mlflow_run_id == job.mlflow_run_id

    assert training_job_mlflow_sync(job_id=job.pk).mlflow_run_id == job.mlflow_run_id  # idempotent


def test_mlflow_unreachable_keeps_the_job_waiting_and_opens_the_breaker(make_job, settings, monkeypatch):
    job = make_job("iris", mlflow_run_id="", mlflow_sync_status=TrackingStatus.PENDING)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    settings.MLFLOW_TRACKING_URI = settings.MLFLOW_REGISTRY_URI = "http://127.0.0.1:9"  # nothing listens there
    settings.BREAKER_FAIL_MAX = 2
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 - MLflow's own error, then the open breaker's
            training_job_mlflow_sync(job_id=job.pk)
    assert CacheCircuitStorage("mlflow").state == "open"
    with pytest.raises(CircuitBreakerError):
        training_job_mlflow_sync(job_id=job.pk)
    job.refresh_from_db()
    assert job.mlflow_sync_status == TrackingStatus.PENDING
    assert sync_training_job_to_mlflow.autoretry_for == (Exception,) and sync_training_job_to_mlflow.max_retries >= 5
    assert settings.CELERY_TASK_ROUTES["apps.automl.tasks.sync_training_job_to_mlflow"] == {"queue": "default"}
