import csv
import hashlib
import io
import time
import uuid

import pandas as pd
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from apps.projects.choices import ProjectRole
from apps.projects.models import Dataset
from apps.registry.choices import BatchStatus
from apps.registry.models import BatchPrediction
from apps.registry.services import batch_prediction_run
from tests.conftest import EXAMPLES
from tests.projects.factories import DatasetFactory, ProjectFactory, add_member

DANGEROUS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1:A2)"]


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def titanic_with_formulas(project) -> Dataset:
    """The titanic sample whose first names are spreadsheet formulas."""
    frame = pd.read_csv(EXAMPLES / "titanic.csv")
    frame.loc[: len(DANGEROUS) - 1, "Name"] = DANGEROUS
    content = frame.to_csv(index=False).encode()
    name = default_storage.save(f"datasets/{project.pk}/{uuid.uuid4().hex}.csv", ContentFile(content))
    return Dataset.objects.create(
        project=project,
        name="titanic-formulas",
        file=name,
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        n_rows=len(frame),
        n_columns=frame.shape[1],
        columns=[{"name": column, "dtype": str(frame[column].dtype)} for column in frame.columns],
        created_by=project.owner,
    )


def wait_for(client, batch_id: int, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/batch-predictions/{batch_id}").json()
        if body["status"] in (BatchStatus.SUCCEEDED, BatchStatus.FAILED):
            return body
        time.sleep(0.5)
    raise AssertionError(f"batch prediction {batch_id} did not finish: {body}")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_batch_prediction_end_to_end_through_a_real_worker(role_groups, celery_worker, make_version, trained):
    version = make_version("titanic")
    project = version.registered_model.project
    dataset = titanic_with_formulas(project)
    owner = client_for(project.owner)

    response = owner.post(f"/api/v1/models/{version.pk}/batch-predictions", {"dataset_id": dataset.pk})
    assert response.status_code == 202
    assert response.json()["status"] == "queued" and response.json()["result_url"] is None
    body = wait_for(owner, response.json()["id"])
    assert body["status"] == "succeeded", body["error"]
    assert body["n_rows"] == dataset.n_rows
    assert body["result_url"].endswith(f"/api/v1/batch-predictions/{body['id']}/download")

    viewer = client_for(add_member(project, ProjectRole.VIEWER))
    download = viewer.get(body["result_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv"
    text = b"".join(download.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == dataset.n_rows
    assert list(rows[0]) == ["Name", "PClass", "Age", "Sex", "Survived", "prediction", "probability_0", "probability_1"]
    for row in rows[:50]:
        assert row["prediction"] in ("0", "1")
        assert float(row["probability_0"]) + float(row["probability_1"]) == pytest.approx(1.0, abs=1e-6)
    assert [row["Name"] for row in rows[: len(DANGEROUS)]] == ["'" + value for value in DANGEROUS]

    stranger = client_for(ProjectFactory().owner)
    assert stranger.get(body["result_url"]).status_code == 404
    assert stranger.get(f"/api/v1/batch-predictions/{body['id']}").status_code == 404
    assert APIClient().get(body["result_url"]).status_code == 401


pytestmark_db = pytest.mark.django_db


@pytest.fixture
def titanic(make_version):
    return make_version("titanic")


@pytestmark_db
def test_viewer_cannot_start_a_batch(titanic):
    viewer = add_member(titanic.registered_model.project, ProjectRole.VIEWER, roles=["ml_engineer"])
    response = client_for(viewer).post(
        f"/api/v1/models/{titanic.pk}/batch-predictions", {"dataset_id": titanic.dataset_id}
    )
    assert response.status_code == 403


@pytestmark_db
def test_batch_input_errors_are_400(titanic):
    owner = client_for(titanic.registered_model.project.owner)
    url = f"/api/v1/models/{titanic.pk}/batch-predictions"
    assert owner.post(url, {}).status_code == 400
    other_project = DatasetFactory(project=ProjectFactory(owner=titanic.registered_model.project.owner))
    response = owner.post(url, {"dataset_id": other_project.pk})
    assert response.status_code == 400 and "another project" in response.json()["dataset_id"][0]
    invisible = DatasetFactory()
    assert owner.post(url, {"dataset_id": invisible.pk}).status_code == 400
    iris = DatasetFactory(project=titanic.registered_model.project, name="iris")
    response = owner.post(url, {"dataset_id": iris.pk})
    assert response.status_code == 400 and "'Name'" in response.json()["dataset_id"][0]


@pytestmark_db
def test_batch_of_other_project_is_404_and_anonymous_401(titanic):
    url = f"/api/v1/models/{titanic.pk}/batch-predictions"
    assert client_for(ProjectFactory().owner).post(url, {"dataset_id": titanic.dataset_id}).status_code == 404
    assert APIClient().post(url, {"dataset_id": titanic.dataset_id}).status_code == 401
    assert client_for(ProjectFactory().owner).get("/api/v1/batch-predictions/999999").status_code == 404


@pytestmark_db
def test_batch_whose_dataset_file_is_gone_fails_with_the_reason(titanic):
    batch = BatchPrediction.objects.create(
        model_version=titanic, dataset=titanic.dataset, created_by=titanic.registered_model.project.owner
    )
    default_storage.delete(titanic.dataset.file.name)
    batch = batch_prediction_run(batch_id=batch.pk)
    assert batch.status == BatchStatus.FAILED
    assert "missing from storage" in batch.error
    assert batch_prediction_run(batch_id=batch.pk).status == BatchStatus.FAILED  # idempotent


@pytestmark_db
def test_result_of_an_unfinished_batch_is_409(titanic):
    batch = BatchPrediction.objects.create(
        model_version=titanic, dataset=titanic.dataset, created_by=titanic.registered_model.project.owner
    )
    response = client_for(titanic.registered_model.project.owner).get(f"/api/v1/batch-predictions/{batch.pk}/download")
    assert response.status_code == 409


@pytestmark_db
def test_every_move_of_a_batch_is_recorded_in_its_append_only_history(titanic):
    batch = BatchPrediction.objects.create(
        model_version=titanic, dataset=titanic.dataset, created_by=titanic.registered_model.project.owner
    )
    batch = batch_prediction_run(batch_id=batch.pk)
    assert batch.status == BatchStatus.SUCCEEDED and batch.attempts == 1
    moves = [(event.from_state, event.to_state) for event in batch.events.all()]
    assert moves == [("queued", "running"), ("running", "succeeded")]
    event = batch.events.first()
    event.message = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        batch.events.all().delete()


@pytestmark_db
def test_a_batch_redelivered_after_its_worker_died_runs_again_until_its_attempts_run_out(titanic):
    from apps.core.work import work_transition

    batch = BatchPrediction.objects.create(
        model_version=titanic, dataset=titanic.dataset, created_by=titanic.registered_model.project.owner
    )
    for _ in range(BatchPrediction.max_attempts):  # each start is followed by a worker "dying" mid-run
        batch = BatchPrediction.objects.get(pk=batch.pk)
        if batch.status == BatchStatus.RUNNING:
            work_transition(batch, batch.requeue, message="lost")
        work_transition(batch, batch.start, message="started, then the worker was killed")
    batch = batch_prediction_run(batch_id=batch.pk)  # the broker delivers it once more
    assert batch.status == BatchStatus.FAILED
    assert f"{BatchPrediction.max_attempts} times" in batch.error
    assert batch.attempts == BatchPrediction.max_attempts


@pytestmark_db
def test_status_moves_only_through_transitions_called_as_methods(titanic):
    from django_fsm import TransitionNotAllowed

    from apps.core.work import work_transition

    batch = BatchPrediction.objects.create(
        model_version=titanic, dataset=titanic.dataset, created_by=titanic.registered_model.project.owner
    )
    with pytest.raises(AttributeError):
        batch.status = BatchStatus.SUCCEEDED  # protected=True
    with pytest.raises(TypeError, match="bound to the work"):
        work_transition(batch, "start")
    with pytest.raises(TransitionNotAllowed):
        work_transition(batch, batch.succeed)  # queued → succeeded is not a move of the machine
