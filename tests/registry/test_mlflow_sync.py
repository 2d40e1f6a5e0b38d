import pytest
from mlflow import MlflowClient

from apps.registry.choices import SyncStatus
from apps.registry.mlflow_sync import MlflowSyncFailed, mlflow_sync_outstanding, registered_model_mlflow_sync
from apps.registry.models import RegisteredModel
from apps.registry.services import model_version_deploy, registered_model_rollback
from apps.registry.tasks import sync_registered_model_to_mlflow
from tests.projects.factories import DatasetFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mlflow(settings):
    return MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI, registry_uri=settings.MLFLOW_REGISTRY_URI)


@pytest.fixture
def two_versions(make_version):
    dataset = DatasetFactory(project=ProjectFactory(), name="iris")
    return [make_version("iris", dataset=dataset) for _ in range(2)]


def test_each_version_is_registered_in_mlflow_with_tags_linking_back(two_versions, mlflow):
    v1, v2 = two_versions
    registered_model = registered_model_mlflow_sync(registered_model_id=v1.registered_model_id)
    assert registered_model.mlflow_sync_status == SyncStatus.SYNCED
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert v1.mlflow_sync_status == SyncStatus.SYNCED and v1.mlflow_version == "1"
    assert v2.mlflow_version == "2"
    remote = mlflow.get_model_version(registered_model.mlflow_name, v2.mlflow_version)
    assert remote.run_id == v2.mlflow_run_id
    assert remote.tags["maestro.model_version_id"] == str(v2.pk)
    assert remote.tags["maestro.artifact_sha256"] == v2.artifact_sha256
    assert remote.tags["maestro.job_id"] == str(v2.job_id)
    assert remote.source.endswith(".tar.gz")
    assert mlflow.get_registered_model(registered_model.mlflow_name).tags["maestro.registered_model_id"] == str(
        registered_model.pk
    )
    # A second sync is a no-op: no duplicate versions.
    registered_model_mlflow_sync(registered_model_id=v1.registered_model_id)
    assert len(mlflow.search_model_versions(f"name='{registered_model.mlflow_name}'")) == 2


def test_production_version_carries_the_production_alias(two_versions, mlflow, approvals):
    v1, v2 = two_versions
    owner = v1.registered_model.project.owner
    model_version_deploy(version=v1, user=owner)
    registered_model = registered_model_mlflow_sync(registered_model_id=v1.registered_model_id)
    assert str(mlflow.get_model_version_by_alias(registered_model.mlflow_name, "production").version) == "1"

    model_version_deploy(version=v2, user=owner)
    assert RegisteredModel.objects.get(pk=registered_model.pk).mlflow_sync_status == SyncStatus.PENDING
    registered_model_mlflow_sync(registered_model_id=registered_model.pk)
    assert str(mlflow.get_model_version_by_alias(registered_model.mlflow_name, "production").version) == "2"

    registered_model_rollback(registered_model=registered_model, user=owner)
    registered_model_mlflow_sync(registered_model_id=registered_model.pk)
    assert str(mlflow.get_model_version_by_alias(registered_model.mlflow_name, "production").version) == "1"
    assert {k: str(v) for k, v in mlflow.get_registered_model(registered_model.mlflow_name).aliases.items()} == {
        "production": "1"
    }


def test_mlflow_down_leaves_the_version_failed_with_the_error_then_a_retry_syncs_it(
    two_versions, settings, monkeypatch
):
    v1, _ = two_versions
    good_uri = settings.MLFLOW_TRACKING_URI
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    settings.MLFLOW_TRACKING_URI = settings.MLFLOW_REGISTRY_URI = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(MlflowSyncFailed):
        registered_model_mlflow_sync(registered_model_id=v1.registered_model_id)
    v1.refresh_from_db()
    registered_model = v1.registered_model
    registered_model.refresh_from_db()
    assert v1.mlflow_sync_status == SyncStatus.FAILED and v1.mlflow_sync_attempts == 1
    assert "127.0.0.1:9" in v1.mlflow_sync_error
    assert registered_model.mlflow_sync_status == SyncStatus.FAILED and registered_model.mlflow_sync_error
    assert registered_model.pk in mlflow_sync_outstanding(settle_seconds=0)

    settings.MLFLOW_TRACKING_URI = settings.MLFLOW_REGISTRY_URI = good_uri
    registered_model_mlflow_sync(registered_model_id=registered_model.pk)
    v1.refresh_from_db()
    assert v1.mlflow_sync_status == SyncStatus.SYNCED and v1.mlflow_sync_error == "" and v1.mlflow_version
    assert registered_model.pk not in mlflow_sync_outstanding(settle_seconds=0)


def test_sync_task_retries_on_failure(two_versions, settings, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    settings.MLFLOW_TRACKING_URI = settings.MLFLOW_REGISTRY_URI = "http://127.0.0.1:9"
    assert MlflowSyncFailed in sync_registered_model_to_mlflow.autoretry_for
    assert sync_registered_model_to_mlflow.max_retries >= 5
    with pytest.raises(MlflowSyncFailed):
        sync_registered_model_to_mlflow.run(two_versions[0].registered_model_id)


def test_sync_state_is_visible_in_the_api(two_versions):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(two_versions[0].registered_model.project.owner)
    body = client.get(f"/api/v1/models/{two_versions[0].pk}").json()
    assert body["mlflow_sync_status"] == "pending" and body["mlflow_sync_error"] == ""
    registered_model_mlflow_sync(registered_model_id=two_versions[0].registered_model_id)
    body = client.get(f"/api/v1/registered-models/{two_versions[0].registered_model_id}").json()
    assert body["mlflow_sync_status"] == "synced" and body["versions"][0]["mlflow_sync_status"] == "synced"
