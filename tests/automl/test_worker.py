"""Real AutoGluon fits through a real Celery worker: success on each task type, cancel, a vanished file."""

import time
from pathlib import Path

import psutil
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from mlflow.tracking import MlflowClient

from apps.automl.choices import TERMINAL_STATES, JobStatus
from apps.automl.models import TrainingJob
from apps.core.archives import extract_archive_safely, verify_sha256
from apps.projects.selectors import dataset_dataframe
from tests.projects.factories import DatasetFactory, ProjectFactory

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("role_groups"),
]

JOBS = "/api/v1/automl/jobs"


def wait_for(job_id: int, done, timeout: float) -> TrainingJob:
    deadline = time.monotonic() + timeout
    while True:
        job = TrainingJob.objects.get(pk=job_id)
        if done(job):
            return job
        if time.monotonic() > deadline:
            log = Path(settings.DATA_DIR) / "celery-worker.log"
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise AssertionError(f"job {job_id} is {job.status} ({job.progress}) after {timeout} s\n{tail}")
        time.sleep(0.2)


def runner_processes(job_id: int) -> list[psutil.Process]:
    """AutoGluon runner processes working on the job (started for it, or a warm runner it was handed to)."""
    marker, found = f"job-{job_id}-", []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "apps.automl.runner" not in cmdline:
            continue
        try:
            files = [item.path for item in process.open_files()]
        except psutil.Error:
            files = []
        if marker in cmdline or any(marker in path for path in files):
            found.append(process)
    return found


def start_job(api_client, dataset, **request) -> int:
    api_client.force_authenticate(dataset.project.owner)
    response = api_client.post(JOBS, {"dataset_id": dataset.pk, **request})
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    return response.json()["id"]


def assert_trained(api_client, job_id: int, tmp_path: Path, *, metric: str) -> TrainingJob:
    job = wait_for(job_id, lambda job: job.status in TERMINAL_STATES, timeout=150)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert [event.to_state for event in job.events.all()] == ["queued", "running", "succeeded"]

    detail = api_client.get(f"{JOBS}/{job_id}").json()
    assert detail["status"] == "succeeded" and detail["progress"] == 1.0 and detail["error"] == ""
    assert detail["current_best"]["model"] == job.best_model
    assert detail["started_at"] and detail["finished_at"]

    results = api_client.get(f"{JOBS}/{job_id}/results").json()
    assert results["eval_metric"] == metric and metric in results["metrics"]
    assert results["best_model"] in {row["model"] for row in results["leaderboard"]}
    for row in results["leaderboard"]:
        assert {"model", "score_val", "score_test", "fit_time", "pred_time_val"} <= set(row)
        assert row["score_val"] is not None and row["score_test"] is not None
    assert results["split"]["test_rows"] > 0 and results["split"]["seed"] == job.random_seed
    assert [feature["name"] for feature in job.features] and job.target not in {f["name"] for f in job.features}

    # The stored archive verifies against its hash and loads elsewhere.
    archive = tmp_path / "predictor.tar.gz"
    with default_storage.open(job.artifact.name, "rb") as source:
        archive.write_bytes(source.read())
    # Each attempt stores its own name (tests/automl/test_attempt_fencing.py); the storage picks a free one
    # if an earlier test run left a file there.
    assert job.artifact.name.startswith(f"artifacts/jobs/{job_id}/{job.attempts}/predictor")
    assert archive.stat().st_size == job.artifact_size
    verify_sha256(archive, job.artifact_sha256)
    extract_archive_safely(archive, tmp_path / "predictor")
    from autogluon.tabular import TabularPredictor

    predictor = TabularPredictor.load(str(tmp_path / "predictor"))
    rows = dataset_dataframe(dataset=job.dataset).drop(columns=[job.target]).head(5)
    assert len(predictor.predict(rows)) == 5

    # MLflow: a finished parent run with the request and test metrics, one child run per model.
    client = MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)
    run = client.get_run(results["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["target"] == job.target and run.data.params["dataset_sha256"] == job.dataset.sha256
    assert run.data.params["time_budget"] == str(job.time_budget) and run.data.params["presets"] == job.presets
    assert f"test_{metric}" in run.data.metrics
    assert "leaderboard.csv" in {item.path for item in client.list_artifacts(run.info.run_id)}
    children = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert sorted(child.info.run_name for child in children) == sorted(row["model"] for row in results["leaderboard"])

    assert not list(Path(settings.AUTOML_WORK_DIR).glob(f"job-{job_id}-*"))  # the work folder is gone
    return job


def test_binary_job_on_titanic_succeeds(api_client, celery_worker, small_models, tmp_path):
    dataset = DatasetFactory(project=ProjectFactory(), name="titanic")
    job_id = start_job(api_client, dataset, target="Survived", task_type="binary", time_budget=15)
    job = assert_trained(api_client, job_id, tmp_path, metric="accuracy")
    assert job.problem_type == "binary" and sorted(job.class_labels) == [0, 1]
    assert job.split["stratified"] is True


def test_multiclass_job_on_penguins_succeeds(api_client, celery_worker, small_models, tmp_path):
    dataset = DatasetFactory(project=ProjectFactory(), name="penguins")
    job_id = start_job(api_client, dataset, target="species", task_type="multiclass", time_budget=15)
    job = assert_trained(api_client, job_id, tmp_path, metric="accuracy")
    assert job.problem_type == "multiclass" and sorted(job.class_labels) == ["Adelie", "Chinstrap", "Gentoo"]


def test_regression_job_on_boston_succeeds_with_the_metric_asked_for(api_client, celery_worker, small_models, tmp_path):
    dataset = DatasetFactory(project=ProjectFactory(), name="boston")
    job_id = start_job(
        api_client, dataset, target="medv", task_type="regression", time_budget=15, metric="mean_absolute_error"
    )
    job = assert_trained(api_client, job_id, tmp_path, metric="mean_absolute_error")
    assert job.problem_type == "regression" and job.class_labels == []
    assert job.metrics["mean_absolute_error"] < 0  # AutoGluon's scores: higher is better, errors negated


def test_cancel_stops_a_running_job_within_seconds(api_client, celery_worker, settings):
    settings.AUTOML_HYPERPARAMETERS = {"RF": {"n_estimators": 100000}}  # keeps fitting for the whole budget
    dataset = DatasetFactory(project=ProjectFactory(), name="titanic")
    job_id = start_job(api_client, dataset, target="Survived", task_type="binary", time_budget=60)
    # progress 0.1 = the runner has been up for about 3 s of the 60 s budget: AutoGluon is fitting.
    wait_for(job_id, lambda job: job.status == JobStatus.RUNNING and job.progress >= 0.1, timeout=60)
    assert runner_processes(job_id), "the AutoGluon runner process should be fitting"

    asked = time.monotonic()
    response = api_client.post(f"{JOBS}/{job_id}/cancel")
    assert response.status_code == 202
    job = wait_for(job_id, lambda job: job.status in TERMINAL_STATES, timeout=20)
    assert job.status == JobStatus.CANCELLED
    assert time.monotonic() - asked < 10
    assert job.events.last().by == dataset.project.owner
    assert not job.artifact and not job.leaderboard

    deadline = time.monotonic() + 5
    while runner_processes(job_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not runner_processes(job_id), "the runner and its children must be gone"
    assert not list(Path(settings.AUTOML_WORK_DIR).glob(f"job-{job_id}-*"))
    assert not default_storage.exists(f"artifacts/jobs/{job_id}/{job.attempts}/predictor.tar.gz")
    if job.mlflow_run_id:
        run = MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI).get_run(job.mlflow_run_id)
        assert run.info.status == "KILLED"


def test_job_whose_dataset_file_vanished_fails_with_a_clear_error(api_client, celery_worker, small_models):
    dataset = DatasetFactory(project=ProjectFactory(), name="iris")
    default_storage.delete(dataset.file.name)
    job_id = start_job(api_client, dataset, target="species", task_type="multiclass", time_budget=15)
    job = wait_for(job_id, lambda job: job.status in TERMINAL_STATES, timeout=60)
    assert job.status == JobStatus.FAILED
    assert "missing from storage" in job.error and "Upload the data again" in job.error
    assert api_client.get(f"{JOBS}/{job_id}").json()["error"] == job.error
