"""A Celery worker is SIGKILLed mid-training (its whole process group and the AutoGluon runner fitting for it).

The job is not left ``running``: once its heartbeat is older than AUTOML_HEARTBEAT_TIMEOUT, the stale-job
check (the beat task ``apps.automl.tasks.reap_stale_training_jobs``, called here directly) queues it again,
another worker trains it to the end, and there is exactly one model version and one stored archive: the
killed attempt left nothing behind (no archive, no work folder, its MLflow run ended).

The workers are started by the test on the suite's configured broker; each consumes a queue of its own, so
that a worker of the rest of the suite that consumes ``training`` cannot take the job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from mlflow.tracking import MlflowClient

from apps.automl import services
from apps.automl.choices import TERMINAL_STATES, JobStatus
from apps.automl.models import TrainingJob
from apps.registry.models import ModelVersion
from tests.automl.test_worker import runner_processes
from tests.conftest import ROOT, database_url_for_worker
from tests.faults.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

JOBS = "/api/v1/automl/jobs"


def start_worker(queue: str, log: Path) -> subprocess.Popen:
    """`celery worker` in a session (process group) of its own, consuming only ``queue``."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_for_worker(),
        "DATA_DIR": str(settings.DATA_DIR),
        "AUTOML_NUM_CPUS": "1",
        "AUTOML_HEARTBEAT_INTERVAL": "0.5",
    }
    return subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--queues", queue, "--concurrency", "1",
            "--hostname", f"{queue}@%h", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ],
        cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        start_new_session=True,
    )  # fmt: skip


def kill_everything(worker: subprocess.Popen, job_id: int) -> None:
    """SIGKILL the worker's process group, its descendants and the runner fitting the job, as an OOM kill would."""
    victims = [psutil.Process(worker.pid)]
    victims += victims[0].children(recursive=True)
    victims += runner_processes(job_id)
    os.killpg(worker.pid, signal.SIGKILL)
    for process in victims:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    worker.wait(timeout=10)
    gone, alive = psutil.wait_procs(victims, timeout=10)
    assert not alive, f"still alive after SIGKILL: {alive}"


def stored_archives(job_id: int) -> set[str]:
    """Every file stored under the job's archive folder, whatever the attempt."""
    root = f"artifacts/jobs/{job_id}"
    try:
        folders, files = default_storage.listdir(root)
    except FileNotFoundError:
        return set()
    found = {f"{root}/{name}" for name in files}
    for folder in folders:
        found |= {f"{root}/{folder}/{name}" for name in default_storage.listdir(f"{root}/{folder}")[1]}
    return found


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)


@pytest.fixture
def two_workers(tmp_path, monkeypatch):
    """Two workers on the configured broker, started at once (each on its own queue); a job's first delivery
    goes to the first, the next to the second."""
    from apps.automl.tasks import run_training_job
    from config.celery import app

    queues = [f"fault-kill-{uuid.uuid4().hex[:8]}-{n}" for n in (1, 2)]
    logs = [tmp_path / f"{queue}.log" for queue in queues]
    workers = [start_worker(queue, log) for queue, log in zip(queues, logs, strict=True)]
    deliveries: list[str] = []

    def enqueue_on_the_test_queues(*, job_id: int, fail_on_error: bool = True) -> None:
        job = TrainingJob.objects.get(pk=job_id)
        queue = queues[len(deliveries)]
        deliveries.append(queue)
        run_training_job.apply_async(args=[job.pk], task_id=job.celery_task_id or None, queue=queue)

    monkeypatch.setattr(services, "training_job_enqueue", enqueue_on_the_test_queues)
    try:
        for queue in queues:  # each answers a ping sent to its own queue
            app.send_task("apps.core.tasks.ping", args=["ready"], queue=queue).get(timeout=90)
    except Exception as exc:
        for worker in workers:
            stop(worker)
        raise RuntimeError("\n".join(log.read_text()[-2000:] for log in logs)) from exc
    yield workers, deliveries, logs
    for worker in workers:
        stop(worker)
    with app.connection_for_write() as connection:
        forget_queues(getattr(connection.default_channel, "client", None), queues)


def forget_queues(client, queues: list[str]) -> None:
    """Leave nothing of the test's queues in the suite's Redis broker: their lists and bindings, and the killed
    worker's unacknowledged task (which Redis would otherwise restore into a queue nobody reads)."""
    if client is None:  # not a Redis broker
        return
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")  # one per pytest-xdist worker
    for queue in queues:  # KEYS and HGETALL see keys as stored (prefixed); DEL, HDEL and ZREM add the prefix
        found = [key.decode().removeprefix(prefix) for key in client.keys(f"{prefix}{queue}*")]
        client.delete(*found, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    for tag, payload in client.hgetall(f"{prefix}unacked").items():
        if json.loads(payload)[2] in queues:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


def test_a_worker_killed_mid_fit_leaves_no_running_job_and_the_job_is_trained_once(
    api_client, engineer_with_data, two_workers, settings
):
    settings.AUTOML_HYPERPARAMETERS = {"GBM": {}}  # recorded on the job: both attempts fit LightGBM only
    settings.AUTOML_MAX_REQUEUES = 1
    (first, second), deliveries, logs = two_workers
    engineer, _password, _project, dataset = engineer_with_data
    api_client.force_authenticate(engineer)
    answer = api_client.post(
        JOBS, {"dataset_id": dataset.pk, "target": "Survived", "task_type": "binary", "time_budget": 10}
    )
    assert answer.status_code == 202, answer.content
    job_id = answer.json()["id"]
    before = stored_archives(job_id)  # an earlier run may have left files of a job with this id

    # The first worker takes it and its runner starts fitting: kill them all.
    wait_until(
        lambda: TrainingJob.objects.get(pk=job_id).status == JobStatus.RUNNING and runner_processes(job_id),
        60,
        f"job running on the first worker:\n{logs[0].read_text()[-2000:]}",
    )
    kill_everything(first, job_id)
    killed = TrainingJob.objects.get(pk=job_id)
    assert killed.status == JobStatus.RUNNING and killed.worker.startswith(deliveries[0])
    assert killed.attempts == 1

    # Nothing else will end it: the stale-job check does, once the heartbeat is older than the timeout (the
    # default 300 s leaves it alone; the test shrinks it to 1 s).
    assert services.training_jobs_reap_stale() == {"requeued": [], "failed": [], "cancelled": []}
    assert TrainingJob.objects.get(pk=job_id).status == JobStatus.RUNNING
    settings.AUTOML_HEARTBEAT_TIMEOUT = 1
    time.sleep(1.5)
    outcome = services.training_jobs_reap_stale()
    assert outcome == {"requeued": [job_id], "failed": [], "cancelled": []}
    requeued = TrainingJob.objects.get(pk=job_id)
    assert requeued.status == JobStatus.QUEUED and requeued.requeue_count == 1
    assert "stopped responding" in requeued.events.last().message
    assert len(deliveries) == 2  # queued again, for the second worker
    if killed.mlflow_run_id:
        run = MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI).get_run(killed.mlflow_run_id)
        assert run.info.status == "FAILED"

    # The second worker trains it to the end.
    wait_until(
        lambda: TrainingJob.objects.get(pk=job_id).status in TERMINAL_STATES,
        60,
        f"job end on the second worker:\n{logs[1].read_text()[-2000:]}",
    )
    job = TrainingJob.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.worker.startswith(deliveries[1]) and job.attempts == 2
    assert [event.to_state for event in job.events.order_by("pk")] == [
        "queued", "running", "queued", "running", "succeeded",
    ]  # fmt: skip

    # Exactly one model version, one archive (the second attempt's), no work folder left.
    # (The registry registers the version right after the job's success is committed, in the same task.)
    wait_until(lambda: ModelVersion.objects.filter(job=job).exists(), 20, "the model version")
    assert ModelVersion.objects.filter(job=job).count() == 1
    assert stored_archives(job_id) - before == {job.artifact.name}
    settings.AUTOML_HEARTBEAT_TIMEOUT = 0  # the next check also clears the killed attempt's folder
    assert services.training_jobs_reap_stale() == {"requeued": [], "failed": [], "cancelled": []}
    assert not list(Path(settings.AUTOML_WORK_DIR).glob(f"job-{job_id}-*"))
