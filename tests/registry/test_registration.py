import pytest

from apps.automl.choices import JobStatus
from apps.automl.models import TrainingJob
from apps.automl.signals import training_job_succeeded
from apps.core.exceptions import Conflict
from apps.registry.choices import SyncStatus, VersionStatus
from apps.registry.models import ModelVersion, RegisteredModel
from apps.registry.services import model_version_register_from_job
from tests.projects.factories import DatasetFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_succeeded_job_registers_its_best_model_with_full_record(make_job, trained):
    job = make_job("titanic")
    version = model_version_register_from_job(job_id=job.pk)

    model = trained["titanic"]
    assert version.version == 1
    assert version.status == VersionStatus.REGISTERED
    assert version.registered_model.project == job.project
    assert version.registered_model.name == f"{job.project.name}-titanic-survived".lower().replace(" ", "-")
    assert version.job == job and version.dataset == job.dataset
    assert version.features == model.features
    assert version.class_labels == [0, 1]
    assert version.task_type == "binary" and version.target == "Survived"
    assert version.artifact.name == job.artifact.name
    assert version.artifact_sha256 == model.sha256
    assert version.metrics == model.metrics and version.metrics["accuracy"] > 0.5
    assert version.mlflow_run_id == model.mlflow_run_id
    assert version.mlflow_sync_status == SyncStatus.PENDING
    assert version.registered_model.mlflow_name.startswith("maestro-test-")


def test_registration_is_idempotent_per_job(make_job):
    job = make_job("iris")
    first = model_version_register_from_job(job_id=job.pk)
    again = model_version_register_from_job(job_id=job.pk)
    assert first.pk == again.pk
    assert ModelVersion.objects.filter(job=job).count() == 1


def test_versions_increment_under_the_same_registered_model(make_job):
    project = ProjectFactory()
    dataset = DatasetFactory(project=project, name="iris")
    versions = [model_version_register_from_job(job_id=make_job("iris", dataset=dataset).pk) for _ in range(3)]
    assert [version.version for version in versions] == [1, 2, 3]
    assert len({version.registered_model_id for version in versions}) == 1


def test_job_can_name_its_registered_model(make_job):
    job = make_job("boston", registered_model_name="house-prices")
    version = model_version_register_from_job(job_id=job.pk)
    assert version.registered_model.name == "house-prices"
    assert RegisteredModel.objects.filter(project=job.project, name="house-prices").count() == 1


def test_unfinished_job_is_not_registered(make_job):
    job = make_job("iris", status=JobStatus.RUNNING)
    with pytest.raises(Conflict, match="only a succeeded job"):
        model_version_register_from_job(job_id=job.pk)


def test_registration_makes_the_model_card(make_job):
    version = model_version_register_from_job(job_id=make_job("iris").pk)
    assert version.card_generated_at is not None
    assert version.card["metrics"] == version.metrics
    assert [feature["name"] for feature in version.card["features"]] == [f["name"] for f in version.features]
    assert version.card["training_data"]["sha256"] == version.dataset.sha256


def test_training_job_succeeded_signal_registers_the_version(make_job):
    job = make_job("iris")
    training_job_succeeded.send(sender=TrainingJob, job_id=job.pk)
    assert ModelVersion.objects.filter(job=job).exists()
