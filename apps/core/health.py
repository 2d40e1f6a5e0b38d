"""Readiness checks of the services Maestro ML depends on. Each returns None when fine, else why not."""

from __future__ import annotations

import sqlite3
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from kombu import Connection


def check_database() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return None


def check_broker() -> str | None:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
        return None
    with Connection(url, connect_timeout=settings.HEALTH_CHECK_TIMEOUT) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=settings.HEALTH_CHECK_TIMEOUT)
    return None


def check_storage() -> str | None:
    name = default_storage.save(f"health/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with default_storage.open(name) as handle:
            if handle.read() != b"ok":
                return "storage returned different bytes than were written"
    finally:
        default_storage.delete(name)
    return None


def check_mlflow() -> str | None:
    uri = settings.MLFLOW_TRACKING_URI
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=settings.HEALTH_CHECK_TIMEOUT) as response:  # noqa: S310
            if response.status != 200:
                return f"MLflow answered {response.status}"
        return None
    if parsed.scheme == "sqlite":
        path = Path(uri.removeprefix("sqlite:///").removeprefix("sqlite://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path, timeout=settings.HEALTH_CHECK_TIMEOUT) as conn:
            conn.execute("SELECT 1")
        return None
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme else uri)
        path.mkdir(parents=True, exist_ok=True)
        return None
    if parsed.scheme.startswith(("postgresql", "mysql")):
        import sqlalchemy

        engine = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": int(settings.HEALTH_CHECK_TIMEOUT)})
        try:
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT 1"))
        finally:
            engine.dispose()
        return None
    return f"unsupported MLflow tracking URI scheme {parsed.scheme!r}"


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
    "mlflow": check_mlflow,
}


def run_checks() -> dict[str, dict]:
    """Run every check; a check that raises is reported as down with the error's text."""
    results: dict[str, dict] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            problem = check()
        except Exception as exc:  # noqa: BLE001 - any failure means the dependency is down
            problem = f"{type(exc).__name__}: {exc}"
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        results[name] = {"status": "down" if problem else "up", "latency_ms": elapsed_ms}
        if problem:
            results[name]["error"] = problem
    return results
