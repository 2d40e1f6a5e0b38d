"""Across apps: a real AutoML job through the API and the worker ends as a registered, servable version."""

import time

import pytest
from rest_framework.test import APIClient

from apps.automl.choices import TERMINAL_STATES, JobStatus
from apps.automl.models import TrainingJob
from apps.registry.choices import SyncStatus
from apps.registry.models import ModelVersion
from tests.projects.factories import DatasetFactory, ProjectFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("timed out")


def test_succeeded_automl_job_registers_a_version_that_serves_predictions(role_groups, celery_worker, settings):
    settings.AUTOML_HYPERPARAMETERS = {"GBM": {}}
    project = ProjectFactory()
    dataset = DatasetFactory(project=project, name="iris")
    client = APIClient()
    client.force_authenticate(project.owner)
    response = client.post(
        "/api/v1/automl/jobs",
        {"dataset_id": dataset.pk, "target": "species", "task_type": "multiclass", "time_budget": 15},
        format="json",
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]

    job = wait(lambda: TrainingJob.objects.filter(pk=job_id, status__in=TERMINAL_STATES).first(), timeout=180)
    assert job.status == JobStatus.SUCCEEDED, job.error
    version = wait(lambda: ModelVersion.objects.filter(job_id=job_id).first(), timeout=30)

    assert client.get(f"/api/v1/automl/jobs/{job_id}").json()["model_version_id"] == version.pk
    body = client.get(f"/api/v1/models/{version.pk}").json()
    assert body["version"] == 1 and body["task_type"] == "multiclass" and body["target"] == "species"
    assert body["sha256"] == job.artifact_sha256 and body["mlflow_run_id"] == job.mlflow_run_id
    assert [feature["name"] for feature in body["features"]] == [
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    ]
    row = {"sepal length (cm)": 6.3, "sepal width (cm)": 3.3, "petal length (cm)": 6.0, "petal width (cm)": 2.5}
    prediction = client.post(f"/api/v1/models/{version.pk}/predict", {"instances": [row]}, format="json").json()
    assert prediction["predictions"] == ["virginica"]
    assert prediction["class_labels"] == ["setosa", "versicolor", "virginica"]

    lineage = client.get(f"/api/v1/models/{version.pk}/lineage").json()
    assert lineage["job"]["id"] == job_id and lineage["dataset"]["sha256"] == dataset.sha256
    deploy = client.post(f"/api/v1/automl/jobs/{job_id}/deploy")
    assert deploy.status_code == 409 and "approved approval request" in deploy.json()["detail"]

    # The worker also registered it in MLflow's model registry.
    version = wait(
        lambda: ModelVersion.objects.filter(pk=version.pk, mlflow_sync_status=SyncStatus.SYNCED).first(), timeout=60
    )
    assert version.mlflow_version == "1"
