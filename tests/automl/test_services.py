"""Service-level rules of AutoML jobs: splitting, target rules, state moves, heartbeats, lost workers."""

import os
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone

from apps.automl import services
from apps.automl.choices import BINARY_METRICS, MULTICLASS_METRICS, REGRESSION_METRICS, JobStatus
from apps.automl.models import TrainingJob
from apps.automl.signals import training_job_succeeded
from apps.automl.training import JobAbandoned, JobCancelled, JobRun, Outcome, split_train_test
from apps.automl.validation import TargetSummary, metric_problem, resolve_task_type, target_problem
from apps.core.exceptions import Conflict
from tests.automl.factories import TrainingJobFactory
from tests.projects.factories import DatasetFactory

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------
# Split
# ---------------------------------------------------------------------------
def test_classification_split_is_stratified_seeded_and_recorded():
    frame = pd.DataFrame({"x": range(100), "y": ["a"] * 80 + ["b"] * 20})
    first = split_train_test(frame, target="y", task_type="binary", test_size=0.2, seed=7)
    again = split_train_test(frame, target="y", task_type="binary", test_size=0.2, seed=7)
    other = split_train_test(frame, target="y", task_type="binary", test_size=0.2, seed=8)
    assert first.test.index.equals(again.test.index)
    assert not first.test.index.equals(other.test.index)
    assert first.test["y"].value_counts().to_dict() == {"a": 16, "b": 4}
    assert first.info == {
        "test_size": 0.2,
        "seed": 7,
        "stratified": True,
        "train_rows": 80,
        "test_rows": 20,
        "dropped_missing_target": 0,
    }
    assert set(first.train.index).isdisjoint(first.test.index)


def test_split_drops_rows_without_target_and_keeps_single_row_classes_for_training():
    frame = pd.DataFrame({"x": range(23), "y": ["a"] * 10 + ["b"] * 10 + ["rare"] + [None] * 2})
    split = split_train_test(frame, target="y", task_type="multiclass", test_size=0.3, seed=0)
    assert split.info["dropped_missing_target"] == 2
    assert "rare" in set(split.train["y"]) and "rare" not in set(split.test["y"])
    assert len(split.train) + len(split.test) == 21


def test_regression_split_is_random_not_stratified():
    frame = pd.DataFrame({"x": range(50), "y": np.linspace(0, 1, 50)})
    split = split_train_test(frame, target="y", task_type="regression", test_size=0.2, seed=0)
    assert split.info["stratified"] is False and len(split.test) == 10


# ---------------------------------------------------------------------------
# Target and metric rules
# ---------------------------------------------------------------------------
def summary(**kwargs) -> TargetSummary:
    values = {"column": "y", "is_numeric": True, "n_unique": 3, "n_present": 100}
    values.update(kwargs)
    return TargetSummary(**values)


@pytest.mark.parametrize(
    ("kwargs", "task_type", "fragment"),
    [
        ({"n_present": 0, "n_unique": 0}, "auto", "only missing values"),
        ({"n_unique": 1}, "binary", "single value"),
        ({"n_present": 5}, "auto", "at least 20"),
        ({"is_numeric": False}, "regression", "numeric target"),
        ({"n_unique": 3}, "binary", "exactly 2 classes"),
        ({"n_unique": 2}, "multiclass", "use binary"),
        ({"n_unique": 100}, "multiclass", "different value"),
    ],
)
def test_targets_that_cannot_be_learned_are_refused_with_the_reason(kwargs, task_type, fragment):
    assert fragment in target_problem(summary(**kwargs), task_type=task_type, min_rows=20)


def test_good_targets_pass():
    assert target_problem(summary(), task_type="regression", min_rows=20) is None
    assert target_problem(summary(n_unique=2), task_type="binary", min_rows=20) is None
    assert target_problem(summary(is_numeric=False), task_type="multiclass", min_rows=20) is None


def test_auto_task_type_follows_the_target_and_metric():
    assert resolve_task_type(summary(n_unique=2), task_type="auto") == "binary"
    assert resolve_task_type(summary(is_numeric=False), task_type="auto") == "multiclass"
    assert resolve_task_type(summary(), task_type="auto") == "auto"
    assert resolve_task_type(summary(), task_type="auto", metric="rmse") == "regression"
    assert resolve_task_type(summary(), task_type="auto", metric="f1_macro") == "multiclass"
    assert resolve_task_type(summary(), task_type="regression") == "regression"


def test_metrics_must_fit_the_task():
    assert metric_problem("", task_type="binary") is None
    assert metric_problem("roc_auc", task_type="binary") is None
    assert "not a metric for regression" in metric_problem("accuracy", task_type="regression")


def test_metric_allow_lists_are_autogluon_metrics():
    from autogluon.core import metrics

    assert BINARY_METRICS <= set(metrics.BINARY_METRICS)
    assert MULTICLASS_METRICS <= set(metrics.MULTICLASS_METRICS)
    assert REGRESSION_METRICS <= set(metrics.REGRESSION_METRICS)


# ---------------------------------------------------------------------------
# State moves
# ---------------------------------------------------------------------------
def running_job(**kwargs) -> TrainingJob:
    job = TrainingJobFactory(**kwargs)
    return services.training_job_start(job_id=job.pk, worker="celery@test")


def test_start_moves_a_queued_job_once():
    job = TrainingJobFactory()
    started = services.training_job_start(job_id=job.pk, worker="celery@a")
    assert started.status == JobStatus.RUNNING and started.worker == "celery@a" and started.heartbeat_at
    assert services.training_job_start(job_id=job.pk, worker="celery@b") is None  # a second delivery does nothing
    assert services.training_job_run(job_id=job.pk) == "skipped"
    assert [(e.from_state, e.to_state) for e in job.events.all()] == [("queued", "running")]


def test_cancel_of_a_running_job_only_flags_it_for_its_worker():
    job = running_job()
    services.training_job_cancel(job=job, user=job.created_by)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.cancel_requested_at is not None and job.cancel_requested_by == job.created_by
    run = JobRun(job=job, work_dir=None)
    with pytest.raises(JobCancelled):
        run.heartbeat(0.5)


def test_cancel_of_a_finished_job_is_a_conflict():
    job = running_job()
    services.training_job_fail(job_id=job.pk, message="broken")
    with pytest.raises(Conflict):
        services.training_job_cancel(job=job, user=job.created_by)


def test_heartbeat_records_progress_and_stops_a_run_whose_job_was_taken_away():
    job = running_job()
    run = JobRun(job=job, work_dir=None)
    run.heartbeat(0.4, {"model": "LightGBM", "score": 0.8})
    job.refresh_from_db()
    assert job.progress == 0.4 and job.current_best == {"model": "LightGBM", "score": 0.8}
    services.training_job_fail(job_id=job.pk, message="the stale-job check failed it")
    with pytest.raises(JobAbandoned):
        run.heartbeat(0.5)


def test_fail_records_the_message_and_the_move():
    job = running_job()
    services.training_job_fail(job_id=job.pk, message="Dataset file missing.")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error == "Dataset file missing." and job.finished_at
    assert job.events.last().message == "Dataset file missing."
    assert services.training_job_fail(job_id=job.pk, message="again") is None


def fake_outcome() -> Outcome:
    leaderboard = [
        {"model": "WeightedEnsemble_L2", "score_val": 0.9, "score_test": 0.88, "fit_time": 1.0, "pred_time_val": 0.1},
        {"model": "LightGBM", "score_val": 0.85, "score_test": 0.86, "fit_time": 0.5, "pred_time_val": 0.05},
    ]
    result = {
        "problem_type": "multiclass",
        "eval_metric": "accuracy",
        "best_model": "WeightedEnsemble_L2",
        "leaderboard": leaderboard,
        "metrics": {"accuracy": 0.88},
        "features": [{"name": "petal length (cm)", "dtype": "float"}],
        "class_labels": ["setosa", "versicolor", "virginica"],
    }
    return Outcome(
        result=result,
        split={"train_rows": 120, "test_rows": 30},
        timings={"fit": 1.5},
        mlflow_run_id="abc123",
        artifact_name="artifacts/jobs/1/predictor.tar.gz",
        artifact_sha256="0" * 64,
        artifact_size=10,
    )


@pytest.fixture
def only_our_receivers():
    """Run the signal without the receivers other apps connected (the registry's)."""
    saved = training_job_succeeded.receivers
    training_job_succeeded.receivers = []
    training_job_succeeded.sender_receivers_cache.clear()
    yield
    training_job_succeeded.receivers = saved
    training_job_succeeded.sender_receivers_cache.clear()


@pytest.mark.usefixtures("only_our_receivers")
def test_success_stores_results_and_announces_it_after_commit(django_capture_on_commit_callbacks):
    job = running_job()
    received = []

    def receiver(sender, job_id, **kwargs):
        received.append((sender, job_id, TrainingJob.objects.get(pk=job_id).status))

    training_job_succeeded.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services._training_job_succeed(job_id=job.pk, outcome=fake_outcome())
            assert received == []  # not before the commit
    finally:
        training_job_succeeded.disconnect(receiver)
    assert received == [(TrainingJob, job.pk, JobStatus.SUCCEEDED)]
    job.refresh_from_db()
    assert job.best_model == "WeightedEnsemble_L2" and job.progress == 1.0
    assert job.current_best["model"] == "WeightedEnsemble_L2" and job.current_best["score"] == 0.9
    assert job.class_labels == ["setosa", "versicolor", "virginica"] and job.mlflow_run_id == "abc123"
    assert [e.to_state for e in job.events.all()] == ["running", "succeeded"]


def test_success_after_a_cancel_request_ends_cancelled_instead():
    job = running_job()
    services.training_job_cancel(job=job, user=job.created_by)
    with pytest.raises(JobCancelled):
        services._training_job_succeed(job_id=job.pk, outcome=fake_outcome())


@pytest.mark.usefixtures("only_our_receivers")
def test_a_failing_registry_receiver_does_not_undo_the_job(django_capture_on_commit_callbacks):
    job = running_job()

    def broken(sender, job_id, **kwargs):
        raise RuntimeError("registry down")

    training_job_succeeded.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services._training_job_succeed(job_id=job.pk, outcome=fake_outcome())
    finally:
        training_job_succeeded.disconnect(broken)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED


def test_run_of_a_job_whose_dataset_file_vanished_fails_with_a_clear_message(settings, tmp_path):
    settings.AUTOML_WORK_DIR = tmp_path
    dataset = DatasetFactory(name="iris")
    dataset.file.storage.delete(dataset.file.name)
    job = TrainingJobFactory(dataset=dataset)
    assert services.training_job_run(job_id=job.pk, worker="celery@test") == JobStatus.FAILED
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "missing from storage" in job.error and "Upload the data again" in job.error
    assert list(tmp_path.iterdir()) == []  # the job folder is removed


# ---------------------------------------------------------------------------
# Lost workers
# ---------------------------------------------------------------------------
def make_stale(job: TrainingJob, seconds: int) -> None:
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=seconds))


def test_job_of_a_lost_worker_is_requeued_once_then_failed(settings, django_capture_on_commit_callbacks):
    settings.AUTOML_HEARTBEAT_TIMEOUT = 60
    settings.AUTOML_MAX_REQUEUES = 1
    job = running_job()
    fresh = running_job()
    make_stale(job, 120)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        outcome = services.training_jobs_reap_stale()
    assert outcome == {"requeued": [job.pk], "failed": [], "cancelled": []}
    assert len(callbacks) == 1  # sent to the queue again
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.requeue_count == 1
    fresh.refresh_from_db()
    assert fresh.status == JobStatus.RUNNING

    services.training_job_start(job_id=job.pk, worker="celery@other")
    make_stale(job, 120)
    assert services.training_jobs_reap_stale()["failed"] == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "stopped responding" in job.error
    assert [e.to_state for e in job.events.all()] == ["running", "queued", "running", "failed"]


def test_lost_job_with_a_cancel_request_ends_cancelled(settings):
    settings.AUTOML_HEARTBEAT_TIMEOUT = 60
    job = running_job()
    services.training_job_cancel(job=job, user=job.created_by)
    make_stale(job, 120)
    assert services.training_jobs_reap_stale()["cancelled"] == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_stale_job_check_is_a_beat_task_on_the_default_queue(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["automl-fail-stale-jobs"]
    assert entry["task"] == "apps.automl.tasks.reap_stale_training_jobs"
    assert entry["options"]["queue"] == "default"
    from apps.automl.tasks import run_training_job
    from config.celery import app

    assert app.amqp.router.route({}, run_training_job.name)["queue"].name == "training"
    assert run_training_job.acks_late and run_training_job.reject_on_worker_lost


def test_stale_job_check_removes_folders_killed_workers_left(settings, tmp_path):
    settings.AUTOML_WORK_DIR = tmp_path
    settings.AUTOML_HEARTBEAT_TIMEOUT = 60
    alive = running_job()
    ended = TrainingJobFactory()
    old = timezone.now() - timedelta(seconds=600)
    for job in (alive, ended):
        folder = tmp_path / f"job-{job.pk}-abcd1234"
        folder.mkdir()
        os.utime(folder, (old.timestamp(), old.timestamp()))
    recent = tmp_path / f"job-{ended.pk}-recent00"
    recent.mkdir()
    services.training_jobs_reap_stale()
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([f"job-{alive.pk}-abcd1234", recent.name])
