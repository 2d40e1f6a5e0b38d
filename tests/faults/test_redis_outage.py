"""Redis stops (broker, results and cache all on one private redis-server) and starts again.

While it is down: API reads keep working, creating a training job answers 503 with a message that says so
and leaves no job behind, and /health/ready answers 503 naming what is down. Once it is back everything
works again with no restart and no manual step.
"""

from __future__ import annotations

import pytest
import redis as redis_client
from django.conf import settings

from apps.automl.models import TrainingJob
from tests.faults.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def job_body(dataset) -> dict:
    return {"dataset_id": dataset.pk, "target": "Survived", "task_type": "binary", "time_budget": 30}


def test_a_redis_outage_keeps_reads_refuses_jobs_with_503_and_heals_itself(
    private_redis, web_server, engineer_with_data
):
    engineer, password, project, dataset = engineer_with_data
    server = web_server(
        CELERY_BROKER_URL=private_redis.url(0),
        CELERY_RESULT_BACKEND=private_redis.url(1),
        CACHE_URL=private_redis.url(2),
        HEALTH_CHECK_TIMEOUT="2",
    )
    token = server.sign_in(engineer.username, password)
    assert server.get("/health/ready").status_code == 200

    private_redis.stop()

    # Reads keep working.
    projects = server.get("/api/v1/projects", token)
    assert projects.status_code == 200, projects.text
    assert [item["id"] for item in projects.json()["results"]] == [project.pk]
    assert server.get(f"/api/v1/datasets/{dataset.pk}", token).status_code == 200
    assert server.get(f"/api/v1/datasets/{dataset.pk}/preview", token).status_code == 200
    # A new job cannot be queued: 503 that says why and when to retry, and no row.
    refused = server.post("/api/v1/automl/jobs", token, json=job_body(dataset))
    assert refused.status_code == 503, refused.text
    assert "unavailable" in refused.json()["detail"] and refused.headers["Retry-After"]
    assert not TrainingJob.objects.exists()
    # Readiness says so, naming what is down.
    ready = server.get("/health/ready")
    assert ready.status_code == 503
    assert {"broker", "cache"} <= set(ready.json()["down"]) and "database" not in ready.json()["down"]

    private_redis.start()  # same port, empty: as after a restart

    wait_until(lambda: server.get("/health/ready").status_code == 200, 20, "readiness after Redis came back")
    queued = server.post("/api/v1/automl/jobs", token, json=job_body(dataset))
    assert queued.status_code == 202, queued.text
    job = TrainingJob.objects.get()
    assert job.pk == queued.json()["id"] and job.status == "queued"
    # Its task is on the training queue of the restarted broker.
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")  # one per pytest-xdist worker
    assert redis_client.Redis.from_url(private_redis.url(0)).llen(f"{prefix}training") == 1


def test_a_job_the_broker_refuses_is_not_left_behind(engineer_with_data, monkeypatch):
    """Only the broker down (a separate Redis): the job row made by the request is removed again, 503."""
    from kombu.exceptions import OperationalError
    from rest_framework.test import APIClient

    from apps.automl.tasks import run_training_job

    engineer, _, _, dataset = engineer_with_data

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    monkeypatch.setattr(run_training_job, "apply_async", refuse)
    client = APIClient()
    client.force_authenticate(engineer)
    answer = client.post("/api/v1/automl/jobs", job_body(dataset), format="json")
    assert answer.status_code == 503, answer.content
    assert "training queue is unavailable" in answer.json()["detail"]
    assert "nothing was saved" in answer.json()["detail"]
    assert not TrainingJob.objects.exists()
