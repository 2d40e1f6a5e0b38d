"""A real `celery worker` process runs a task through each broker Maestro ML supports."""

import os
import socket
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings

from tests.conftest import start_worker, stop_worker, wait_for_ping

pytestmark = pytest.mark.integration


def redis_url() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith("redis://"):
        return url
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def redis_reachable(url: str) -> bool:
    host_port = url.split("://", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=1):
            return True
    except OSError:
        return False


def key_prefix() -> dict[str, str]:
    """The Redis key prefix of this test process (one per pytest-xdist worker): the worker it starts has it too."""
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix")
    return {"global_keyprefix": prefix} if prefix else {}


def client_app(monkeypatch, broker: str, backend: str, transport_options: dict) -> Celery:
    # Celery reads CELERY_BROKER_URL / CELERY_RESULT_BACKEND from the environment before its own config.
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", backend)
    app = Celery("maestro-test-client")
    app.conf.update(  # explicit: Celery would otherwise prefer CELERY_BROKER_URL from the environment
        broker_url=broker,
        result_backend=backend,
        broker_transport_options=transport_options,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_default_queue="default",
    )
    return app


def test_worker_runs_a_task_through_redis(tmp_path: Path, monkeypatch):
    url = redis_url()
    if not redis_reachable(url):
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {url} in CI")
        pytest.skip(f"no Redis at {url}")
    backend = url
    process = start_worker(
        {"CELERY_BROKER_URL": url, "CELERY_RESULT_BACKEND": backend, "DATA_DIR": str(tmp_path)},
        tmp_path / "worker.log",
    )
    try:
        app = client_app(monkeypatch, url, backend, {"visibility_timeout": 3600, **key_prefix()})
        wait_for_ping(app)
        assert app.send_task("apps.core.tasks.ping", args=["through redis"]).get(timeout=30) == "through redis"
    finally:
        stop_worker(process)


def test_worker_runs_a_task_through_the_embedded_broker(tmp_path: Path, monkeypatch):
    broker_dir = tmp_path / "celery" / "broker"
    for folder in ("out", "processed"):
        (broker_dir / folder).mkdir(parents=True)
    backend = f"file://{tmp_path / 'celery' / 'results'}"
    (tmp_path / "celery" / "results").mkdir(parents=True)
    process = start_worker(
        {"CELERY_BROKER_URL": "filesystem://", "CELERY_RESULT_BACKEND": backend, "DATA_DIR": str(tmp_path)},
        tmp_path / "worker.log",
    )
    try:
        options = {
            "data_folder_in": str(broker_dir / "out"),
            "data_folder_out": str(broker_dir / "out"),
            "processed_folder": str(broker_dir / "processed"),
            "control_folder": str(broker_dir / "control"),
        }
        app = client_app(monkeypatch, "filesystem://", backend, options)
        wait_for_ping(app)
        assert app.send_task("apps.core.tasks.ping", args=["through files"]).get(timeout=30) == "through files"
    finally:
        stop_worker(process)
