"""MLflow stops; Maestro ML keeps working and catches up by itself. One real AutoML job through a real Celery
worker and broker, with a real MLflow server that is down while the job trains:

- the job still succeeds; its MLflow run waits (``mlflow_sync_status`` pending); the ``mlflow`` circuit breaker
  opens (shared through the cache) and ``/health/deep`` reports MLflow down because of it, the API stays up;
- MLflow comes back: the retried sync task logs the run (parent, leaderboard, one child per model) without
  anyone asking, and the breaker closes again;
- the request's id is on the worker's log lines of the task it started (and of the sync task that one queued),
  the request's trace continues into the task's span (OpenTelemetry, console exporter in the worker), and the
  job is counted on /metrics.

The worker gets its own Redis (broker and results, a private redis-server) so no other worker takes the job.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from apps.automl.choices import JobStatus, TrackingStatus
from apps.automl.models import TrainingJob
from apps.core.resilience import CacheCircuitStorage
from tests.conftest import database_url_for_worker, start_worker, stop_worker, wait_for_ping
from tests.projects.factories import DatasetFactory, ProjectFactory

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = log.read_text()[-4000:] if log and log.exists() else ""
            raise AssertionError(f"{what}: not within {timeout} s\n{tail}")
        time.sleep(0.25)


@contextmanager
def private_redis(folder: Path) -> Iterator[str]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: _answers(port), 10, "redis-server")
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class MlflowServer:
    """``mlflow server`` on 127.0.0.1:port with a SQLite store in a temporary folder, started and stopped."""

    def __init__(self, folder: Path, port: int):
        self.folder, self.port, self.process = folder, port, None
        self.uri = f"http://127.0.0.1:{port}"

    def start(self, *, wait: bool = True) -> None:
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
            "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
            "--artifacts-destination", str(self.folder / "artifacts"), "--workers", "1",
        ]  # fmt: skip
        log = open(self.folder / "mlflow.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        if wait:
            wait_until(self.healthy, 120, "mlflow server", self.folder / "mlflow.log")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=1) as response:  # noqa: S310
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the server and its own workers, nothing else
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None


@contextmanager
def publishing_to(broker: str) -> Iterator[None]:
    """The test process' Celery app sends its tasks to ``broker`` (the private worker's) while inside."""
    from config.celery import app

    saved_conf, saved_env = app.conf.broker_url, os.environ.get("CELERY_BROKER_URL")

    def switch(url: str, env: str | None) -> None:
        app.conf.broker_url = url
        if env is None:  # Celery reads CELERY_BROKER_URL from the environment before its configuration
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = env
        app._pool = None
        app.amqp._producer_pool = None

    switch(broker, broker)
    try:
        yield
    finally:
        switch(saved_conf, saved_env)


@contextmanager
def tracing_in_memory() -> Iterator[object]:
    from apps.core import tracing

    saved = settings.OTEL_TRACES_EXPORTER
    settings.OTEL_TRACES_EXPORTER = "memory"
    try:
        tracing.configure_tracing(force=True)
        yield tracing.memory_exporter
    finally:
        tracing.shutdown_tracing()
        settings.OTEL_TRACES_EXPORTER = saved


def log_lines(path: Path) -> list[dict]:
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"event"' in line:
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def console_spans(path: Path) -> list[dict]:
    spans = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"context"' in line and '"trace_id"' in line:
            try:
                spans.append(json.loads(line))
            except ValueError:
                continue
    return spans


@pytest.mark.skipif(
    not settings.CACHES["default"]["BACKEND"].endswith("RedisCache"),
    reason="the breaker's state is shared with the worker through a Redis cache (CI and production have one)",
)
def test_a_job_trains_while_mlflow_is_down_and_its_run_is_logged_when_mlflow_returns(tmp_path, settings):
    from django.contrib.auth.models import Group, Permission

    from apps.accounts.roles import role_groups_sync

    role_groups_sync(Group, Permission)
    settings.AUTOML_HYPERPARAMETERS = {"GBM": {}}
    settings.AUTOML_MIN_TIME_BUDGET = 5
    mlflow = MlflowServer(tmp_path, free_port())  # stopped: nothing listens on its port yet
    breaker = CacheCircuitStorage("mlflow")
    worker_log = tmp_path / "worker.log"
    request_id = f"req-{uuid.uuid4().hex[:12]}"

    with private_redis(tmp_path) as redis_url, publishing_to(f"{redis_url}/0"), tracing_in_memory() as spans:
        worker = start_worker(
            {
                "DATABASE_URL": database_url_for_worker(),
                "DATA_DIR": str(settings.DATA_DIR),
                "CELERY_BROKER_URL": f"{redis_url}/0",
                "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND,  # where this process reads results
                "MLFLOW_TRACKING_URI": mlflow.uri,
                "MLFLOW_REGISTRY_URI": mlflow.uri,
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
                "BREAKER_FAIL_MAX": "2",
                "BREAKER_RESET_TIMEOUT": "2",
                "AUTOML_MLFLOW_SYNC_RETRY_BACKOFF": "1",
                "AUTOML_MLFLOW_SYNC_RETRY_BACKOFF_MAX": "2",
                "AUTOML_MLFLOW_SYNC_MAX_RETRIES": "500",
                "AUTOML_NUM_CPUS": "1",
                "EXPLAIN_ON_REGISTRATION": "false",
                "LOG_LEVEL": "INFO",
                "LOG_FORMAT": "json",
                "OTEL_ENABLED": "true",
                "OTEL_TRACES_EXPORTER": "console",
            },
            worker_log,
        )
        try:
            from config.celery import app

            wait_for_ping(app)
            dataset = DatasetFactory(project=ProjectFactory(), name="titanic")
            api = APIClient()
            api.force_authenticate(dataset.project.owner)
            response = api.post(
                "/api/v1/automl/jobs",
                {"dataset_id": dataset.pk, "target": "Survived", "task_type": "binary", "time_budget": 5},
                HTTP_X_REQUEST_ID=request_id,
            )
            assert response.status_code == 202, response.content
            assert response["X-Request-ID"] == request_id
            job_id = response.json()["id"]

            # MLflow is down: the breaker opens (the worker's warm-up and the job's start both failed) and the
            # operators' deep check names MLflow and its open breaker, while the API stays up.
            wait_until(lambda: breaker.state == "open", 120, "the breaker did not open", worker_log)
            settings.HEALTH_CHECK_TOKEN = "deep-check-token-0123456789"
            operator = Client(HTTP_AUTHORIZATION="Bearer deep-check-token-0123456789")
            deep = operator.get("/health/deep")
            assert deep.status_code == 503
            body = deep.json()
            assert body["down"] == ["mlflow"], body
            assert "circuit breaker open" in body["checks"]["mlflow"]["error"]
            assert body["breakers"]["mlflow"]["state"] == "open"
            assert api.get(f"/api/v1/automl/jobs/{job_id}").status_code == 200

            # MLflow comes back while the job trains (its run was deferred when the job started).
            mlflow.start(wait=False)
            job = wait_until(
                lambda: TrainingJob.objects.filter(pk=job_id, status__in=["succeeded", "failed"]).first(),
                180,
                "the job did not end",
                worker_log,
            )
            assert job.status == JobStatus.SUCCEEDED, job.error
            deferred = [line for line in log_lines(worker_log) if "its run is logged later" in line["event"]]
            assert deferred, "the job did not defer its MLflow run"

            # The retried sync logs the run by itself once MLflow answers, and the breaker closes.
            job = wait_until(
                lambda: TrainingJob.objects.filter(pk=job_id, mlflow_sync_status=TrackingStatus.SYNCED).first(),
                180,
                "the MLflow run was not logged after MLflow returned",
                worker_log,
            )
            from mlflow import MlflowClient

            client = MlflowClient(tracking_uri=mlflow.uri)
            run = client.get_run(job.mlflow_run_id)
            assert run.info.status == "FINISHED" and run.data.tags["maestro.job_id"] == str(job_id)
            assert run.data.params["target"] == "Survived" and run.data.params["best_model"] == job.best_model
            assert "leaderboard.csv" in {item.path for item in client.list_artifacts(run.info.run_id)}
            children = client.search_runs(
                [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'"
            )
            assert {child.info.run_name for child in children} == {row["model"] for row in job.leaderboard}
            wait_until(lambda: breaker.state == "closed", 30, "the breaker did not close", worker_log)
            assert operator.get("/health/deep").json()["breakers"]["mlflow"]["state"] == "closed"

            # The job is counted on /metrics (read from the database, whichever process answers).
            metrics = operator.get("/metrics").content.decode()
            assert 'maestro_training_jobs{status="succeeded"} 1.0' in metrics
        finally:
            stop_worker(worker)
            mlflow.stop()

        # The request's id is on the log lines of the task it started, and of the sync task that one queued.
        lines = log_lines(worker_log)
        training = [line for line in lines if line.get("task_name") == "apps.automl.tasks.run_training_job"]
        assert training and all(line.get("request_id") == request_id for line in training), training[:3]
        assert {line.get("user_id") for line in training} == {dataset.project.owner.pk}
        syncing = [line for line in lines if line.get("task_name") == "apps.automl.tasks.sync_training_job_to_mlflow"]
        assert syncing and all(line.get("request_id") == request_id for line in syncing)
        moves = [line["event"] for line in lines if line["event"].startswith("circuit breaker mlflow")]
        assert "circuit breaker mlflow: closed -> open" in moves and moves[-1].endswith("-> closed"), moves

        # One trace from the request into the task: the worker's task span continues the request's span.
        request_spans = [s for s in spans.get_finished_spans() if s.name.startswith("POST")]
        assert request_spans, [s.name for s in spans.get_finished_spans()]
        trace_id = f"0x{request_spans[0].context.trace_id:032x}"
        task_spans = [s for s in console_spans(worker_log) if s["name"] == "run/apps.automl.tasks.run_training_job"]
        assert task_spans and task_spans[0]["context"]["trace_id"] == trace_id
