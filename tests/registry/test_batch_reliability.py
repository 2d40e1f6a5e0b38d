"""Batch predictions cannot loop or stick: a batch that keeps killing its worker fails after its attempts,
one killed by the hard time limit is failed by the periodic reaper, and a broker outage when it is queued
answers 503 and leaves no batch behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import OperationalError
from rest_framework.test import APIClient

from apps.core.work import work_transition
from apps.registry import services, tasks
from apps.registry.choices import BatchStatus
from apps.registry.models import BatchPrediction, BatchPredictionEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def titanic(make_version):
    return make_version("titanic")


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def running_batch(version, *, started_ago: timedelta) -> BatchPrediction:
    batch = BatchPrediction.objects.create(
        model_version=version, dataset=version.dataset, created_by=version.registered_model.project.owner
    )
    work_transition(batch, batch.start, message="started")
    BatchPrediction.objects.filter(pk=batch.pk).update(started_at=timezone.now() - started_ago)
    return BatchPrediction.objects.get(pk=batch.pk)


def test_a_batch_running_past_its_time_limit_is_failed_by_the_reaper(titanic, settings):
    settings.BATCH_PREDICTION_TIME_LIMIT = 600
    settings.BATCH_PREDICTION_REAP_GRACE = 60
    stuck = running_batch(titanic, started_ago=timedelta(seconds=700))
    busy = running_batch(titanic, started_ago=timedelta(seconds=30))
    queued = BatchPrediction.objects.create(
        model_version=titanic, dataset=titanic.dataset, created_by=titanic.registered_model.project.owner
    )
    assert services.batch_predictions_reap_stale() == [stuck.pk]
    stuck.refresh_from_db()
    assert stuck.status == BatchStatus.FAILED and stuck.finished_at is not None
    assert "time limit of 600 s" in stuck.error
    assert [(e.from_state, e.to_state) for e in stuck.events.all()][-1] == ("running", "failed")
    assert BatchPrediction.objects.get(pk=busy.pk).status == BatchStatus.RUNNING
    assert BatchPrediction.objects.get(pk=queued.pk).status == BatchStatus.QUEUED
    assert services.batch_predictions_reap_stale() == []  # nothing twice


def test_the_reaper_runs_periodically_on_the_default_queue():
    entries = [entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if "batch" in entry["task"]]
    assert [entry["task"] for entry in entries] == ["apps.registry.tasks.reap_stale_batch_predictions"]
    assert entries[0]["options"]["queue"] == "default"
    assert tasks.reap_stale_batch_predictions.name == entries[0]["task"]


def test_the_task_time_limits_come_from_the_setting():
    assert tasks.run_batch_prediction.time_limit == settings.BATCH_PREDICTION_TIME_LIMIT
    assert tasks.run_batch_prediction.soft_time_limit < tasks.run_batch_prediction.time_limit


def test_a_broker_outage_when_queuing_answers_503_and_leaves_no_batch(titanic, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_batch_prediction, "apply_async", unreachable)
    owner = client_for(titanic.registered_model.project.owner)
    response = owner.post(f"/api/v1/models/{titanic.pk}/batch-predictions", {"dataset_id": titanic.dataset_id})
    assert response.status_code == 503
    assert "queue" in response.json()["detail"] and "try again" in response.json()["detail"].lower()
    assert "Connection refused" not in response.json()["detail"]
    assert BatchPrediction.objects.count() == 0 and BatchPredictionEvent.objects.count() == 0


def test_a_queued_batch_is_sent_with_its_task_id_before_its_row_commits(titanic, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.run_batch_prediction, "apply_async", lambda **kwargs: sent.append(kwargs))
    owner = client_for(titanic.registered_model.project.owner)
    response = owner.post(f"/api/v1/models/{titanic.pk}/batch-predictions", {"dataset_id": titanic.dataset_id})
    assert response.status_code == 202
    batch = BatchPrediction.objects.get(pk=response.json()["id"])
    assert sent == [{"args": [batch.pk], "task_id": batch.celery_task_id}]


def test_the_task_waits_for_a_batch_whose_row_is_not_committed_yet(monkeypatch):
    calls = []
    monkeypatch.setattr(services, "batch_prediction_run", lambda *, batch_id, task_id: calls.append(batch_id))
    result = tasks.run_batch_prediction.apply(args=[123456])
    assert result.get() is None
    assert len(calls) == tasks.BATCH_VISIBILITY_RETRIES + 1


def test_a_soft_time_limit_fails_the_batch_with_a_clear_message(titanic, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    def too_slow(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(services, "_prediction_frame", too_slow)
    batch = BatchPrediction.objects.create(
        model_version=titanic, dataset=titanic.dataset, created_by=titanic.registered_model.project.owner
    )
    batch = services.batch_prediction_run(batch_id=batch.pk)
    assert batch.status == BatchStatus.FAILED and "time limit" in batch.error


def test_a_task_that_is_not_the_batchs_own_leaves_it_alone(titanic):
    batch = BatchPrediction.objects.create(
        model_version=titanic,
        dataset=titanic.dataset,
        created_by=titanic.registered_model.project.owner,
        celery_task_id="the-one-it-was-queued-with",
    )
    assert services.batch_prediction_run(batch_id=batch.pk, task_id="a-stale-message").status == BatchStatus.QUEUED
    assert services.batch_prediction_run(batch_id=batch.pk, task_id="the-one-it-was-queued-with").status == (
        BatchStatus.SUCCEEDED
    )
