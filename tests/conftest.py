"""Shared fixtures: API clients, users, and a real Celery worker process on the configured broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "data"


def pytest_report_header(config) -> list[str]:
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    broker = settings.CELERY_BROKER_URL.split("://", 1)[0]
    return [
        f"maestro: database={engine} broker={broker} storage={settings.STORAGE_BACKEND} data_dir={settings.DATA_DIR}"
    ]


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture(autouse=True)
def isolated_rate_limits(settings) -> None:
    """Each test counts rate limits under its own cache keys, so limits never leak between tests.

    Lower a rate inside a test with ``settings.RATELIMIT_LOGIN = "2/m"`` (rates are read per request).
    """
    settings.RATELIMIT_CACHE_PREFIX = f"rl:test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture(autouse=True)
def closed_breakers() -> Iterator[None]:
    """Circuit breakers keep their state in the shared cache: every test starts with them closed."""
    from apps.core.resilience import breakers_reset

    breakers_reset()
    yield


@pytest.fixture
def example_csv() -> callable:
    """Path of a bundled sample dataset: ``example_csv("iris")``."""

    def path(name: str) -> Path:
        return EXAMPLES / f"{name}.csv"

    return path


def database_url_for_worker() -> str:
    """The URL of the test database pytest-django created, for a worker process to use."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(env_overrides: dict[str, str], log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **env_overrides}
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--queues", "training,explain,default", "--concurrency", "2",
            "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def wait_for_ping(app, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    result = app.send_task("apps.core.tasks.ping", args=["ready"])
    result.get(timeout=max(1, deadline - time.monotonic()))


def stop_worker(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker) -> Iterator[subprocess.Popen]:
    """A real `celery worker` process on the configured broker, using the test database.

    Tests that use it need committed data: mark them ``@pytest.mark.django_db(transaction=True)``.
    """
    from config.celery import app

    log_path = Path(settings.DATA_DIR) / "celery-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    process = start_worker({"DATABASE_URL": database_url_for_worker(), "DATA_DIR": str(settings.DATA_DIR)}, log_path)
    try:
        wait_for_ping(app)
    except Exception as exc:
        stop_worker(process)
        raise RuntimeError(
            f"The Celery worker did not answer; see {log_path}:\n{log_path.read_text()[-3000:]}"
        ) from exc
    yield process
    stop_worker(process)
