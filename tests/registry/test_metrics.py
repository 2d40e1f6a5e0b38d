"""Maestro ML's metrics on /metrics once a job ran and a prediction was served: jobs by state and their run
time, registrations, and predictions with their latency by registered model."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def sample(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + wanted + '}') if labels else ''} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_jobs_registrations_and_predictions_appear_on_metrics(make_version, make_job, trained, client):
    version = make_version("titanic")
    make_job("iris", status="failed", error="boom")
    api = APIClient()
    api.force_authenticate(version.registered_model.project.owner)
    rows = trained["titanic"].rows[:3]
    before = client.get("/metrics").content.decode()
    served_before = sample(before, "maestro_predictions_total", registered_model_id=str(version.registered_model_id))
    response = api.post(f"/api/v1/models/{version.pk}/predict", {"instances": rows}, format="json")
    assert response.status_code == 200, response.content

    text = client.get("/metrics").content.decode()
    model = str(version.registered_model_id)
    assert sample(text, "maestro_predictions_total", registered_model_id=model) == (served_before or 0) + 3
    assert sample(text, "maestro_prediction_duration_seconds_count", registered_model_id=model) >= 1
    assert sample(text, "maestro_training_jobs", status="succeeded") == 1
    assert sample(text, "maestro_training_jobs", status="failed") == 1
    assert sample(text, "maestro_training_jobs", status="running") == 0
    assert sample(text, "maestro_training_jobs_finished_total", status="failed") == 1
    assert sample(text, "maestro_training_job_duration_seconds_count", status="succeeded") == 1
    assert sample(text, "maestro_training_job_duration_seconds_bucket", le="30.0", status="succeeded") == 1
    assert 19 <= sample(text, "maestro_training_job_duration_seconds_sum", status="succeeded") <= 21
    assert sample(text, "maestro_model_registrations_total") == 1
    assert sample(text, "maestro_registered_models") == 1
    assert sample(text, "maestro_approval_requests_open", state="submitted") == 0  # governance's, same scrape
