"""Checks of the services Maestro ML depends on. Each returns None when fine, else why not.

Two sets (``apps.core.views``): readiness (``/health/ready``, public, probed by load balancers and the
kubelet) checks only what serving a request needs, the database, the cache (rate limits, sign-in
lock-outs) and the broker (queuing work), so a web pod is not taken out of service because MLflow or
S3 is down; the deep check (``/health/deep``, operators only) checks every dependency, storage and
MLflow included, with latencies and the error of each one that is down.

Every check runs with a time limit (``HEALTH_CHECK_TIMEOUT``, seconds): they run side by side in
threads, and one that has not answered in time counts as down, so a probe always answers promptly.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, connections
from kombu import Connection

logger = logging.getLogger("maestro.health")


def check_database() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return None


def check_cache() -> str | None:
    key, value = f"maestro:health:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=30)
    try:
        if cache.get(key) != value:
            return "the cache returned another value than was stored"
    finally:
        cache.delete(key)
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
    from apps.core.resilience import breaker_states

    breaker = breaker_states()["mlflow"]
    if breaker["state"] != "closed":
        return (
            f"circuit breaker {breaker['state']} after {breaker['failures']} failed calls"
            f"{' since ' + breaker['opened_at'] if 'opened_at' in breaker else ''}; MLflow work waits and resumes"
        )
    uri = settings.MLFLOW_TRACKING_URI
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=settings.HEALTH_CHECK_TIMEOUT) as response:  # noqa: S310  # nosec B310  # the operator's own http(s) tracking URI
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


# What serving needs (readiness), and everything (the operators' deep check).
READINESS_CHECKS: dict[str, Callable[[], str | None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}
CHECKS: dict[str, Callable[[], str | None]] = {
    **READINESS_CHECKS,
    "storage": check_storage,
    "mlflow": check_mlflow,
}


def _timed(check: Callable[[], str | None]) -> tuple[str | None, float]:
    started = time.perf_counter()
    try:
        try:
            problem = check()
        except Exception as exc:  # noqa: BLE001 - any failure means the dependency is down
            problem = f"{type(exc).__name__}: {exc}"
        return problem, round((time.perf_counter() - started) * 1000, 1)
    finally:
        connections.close_all()  # this thread's database connections


def run_checks(checks: dict[str, Callable[[], str | None]], *, timeout: float | None = None) -> dict[str, dict]:
    """Run ``checks`` side by side, each within ``timeout`` seconds (default ``HEALTH_CHECK_TIMEOUT``):
    ``{name: {"status": "up"|"down", "latency_ms": ..., "error": "..." (when down)}}``. The error text is
    for operators: the readiness view leaves it out."""
    timeout = settings.HEALTH_CHECK_TIMEOUT if timeout is None else timeout
    pool = ThreadPoolExecutor(max_workers=max(1, len(checks)), thread_name_prefix="health")
    try:
        futures = {name: pool.submit(_timed, check) for name, check in checks.items()}
        wait(futures.values(), timeout=timeout)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung check does not hold the answer
    results: dict[str, dict] = {}
    for name, future in futures.items():
        if future.done() and not future.cancelled():
            problem, latency = future.result()
        else:
            problem, latency = f"no answer within {timeout:g} s (HEALTH_CHECK_TIMEOUT)", round(timeout * 1000, 1)
        results[name] = {"status": "down" if problem else "up", "latency_ms": latency}
        if problem:
            results[name]["error"] = problem
            logger.warning("health check %s is down: %s", name, problem)
    return results
