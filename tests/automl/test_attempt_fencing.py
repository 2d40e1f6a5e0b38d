"""Attempts of a training job are fenced: once a job was requeued and started again, the attempt that lost
its claim can no longer beat, record, store, fail or succeed the job, and never deletes the archive the
running attempt stored (each attempt writes its own archive name)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from apps.automl import runner, services
from apps.automl.choices import JobStatus
from apps.automl.models import TrainingJob
from apps.automl.training import JobAbandoned, JobRun, artifact_name
from tests.automl.factories import TrainingJobFactory

pytestmark = pytest.mark.django_db


def predictor_folder(work_dir, content: bytes):
    folder = work_dir / runner.PREDICTOR_DIR
    folder.mkdir(parents=True)
    (folder / "predictor.pkl").write_bytes(content)
    return work_dir


def requeue_and_restart(job: TrainingJob, settings) -> TrainingJob:
    """The stale-job check requeues the job (its heartbeat looked lost) and another worker starts it."""
    settings.AUTOML_HEARTBEAT_TIMEOUT = 60
    settings.AUTOML_MAX_REQUEUES = 3
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=120))
    assert services.training_jobs_reap_stale()["requeued"] == [job.pk]
    return services.training_job_start(job_id=job.pk, worker="celery@second")


@pytest.fixture
def two_attempts(settings, tmp_path):
    job = TrainingJobFactory()
    first = services.training_job_start(job_id=job.pk, worker="celery@first")
    loser = JobRun(job=first, work_dir=predictor_folder(tmp_path / "first", b"first attempt"))
    second = requeue_and_restart(first, settings)
    winner = JobRun(job=second, work_dir=predictor_folder(tmp_path / "second", b"second attempt"))
    assert (first.attempts, second.attempts) == (1, 2)
    return job, loser, winner


def test_the_heartbeat_of_a_superseded_attempt_stops_it_and_changes_nothing(two_attempts):
    job, loser, winner = two_attempts
    winner.heartbeat(0.6, {"model": "LightGBM", "score": 0.9})
    with pytest.raises(JobAbandoned):
        loser.heartbeat(0.2, {"model": "KNN", "score": 0.1})
    job.refresh_from_db()
    assert job.progress == 0.6 and job.current_best["model"] == "LightGBM" and job.worker == "celery@second"


def test_each_attempt_stores_its_own_archive_and_the_loser_never_touches_the_winners(two_attempts):
    job, loser, winner = two_attempts
    name, _, _ = winner.store_archive()
    with default_storage.open(name) as handle:
        stored = handle.read()
    losers_folder = artifact_name(job.pk, 1).rsplit("/", 1)[0]
    before = files_in(losers_folder)
    with pytest.raises(JobAbandoned):
        loser.store_archive()  # checked before writing
    loser.discard(mlflow_status="FAILED")
    assert default_storage.exists(name), "the loser deleted the winner's archive"
    with default_storage.open(name) as handle:
        assert handle.read() == stored
    assert artifact_name(job.pk, 2) == f"artifacts/jobs/{job.pk}/2/predictor.tar.gz"
    assert name.startswith(f"artifacts/jobs/{job.pk}/2/predictor")  # (a free name if an old run left one)
    assert files_in(losers_folder) == before


def files_in(folder: str) -> set[str]:
    try:
        return set(default_storage.listdir(folder)[1])
    except FileNotFoundError:
        return set()


def test_a_superseded_attempt_cannot_fail_or_succeed_the_job(two_attempts):
    job, loser, winner = two_attempts
    assert services.training_job_fail(job_id=job.pk, message="the loser's error", attempt=1) is None
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.error == ""
    from tests.automl.test_services import fake_outcome

    outcome = fake_outcome()
    outcome.attempt = 1
    with pytest.raises(JobAbandoned):
        services._training_job_succeed(job_id=job.pk, outcome=outcome)
    outcome.attempt = 2
    services._training_job_succeed(job_id=job.pk, outcome=outcome)
    assert TrainingJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED


def test_a_superseded_attempt_does_not_record_its_mlflow_run(two_attempts, monkeypatch):
    from apps.automl import tracking

    job, loser, winner = two_attempts
    monkeypatch.setattr(tracking, "job_run_start", lambda *, job: "loser-run")
    with pytest.raises(JobAbandoned):
        loser.start_tracking()
    assert TrainingJob.objects.get(pk=job.pk).mlflow_run_id != "loser-run"
