"""Opening MLflow: one client for every app, and a local store opened safely from several processes.

MLflow creates (and migrates) a SQLite tracking store the first time a process touches it. Two
processes doing that at once race on the schema version and one of them fails, which on a fresh
data folder meant a training job failing. The first touch is therefore serialised across processes
with a file lock beside the database; server URIs (http, PostgreSQL) need nothing.
"""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path
from urllib.parse import urlparse

_ready: set[str] = set()
_lock = threading.Lock()


def sqlite_path(uri: str) -> Path | None:
    if urlparse(uri).scheme != "sqlite":
        return None
    return Path(uri.removeprefix("sqlite:///").removeprefix("sqlite://"))


def mlflow_store_ensure_ready(*, tracking_uri: str) -> None:
    """Make sure the store at ``tracking_uri`` exists and is migrated, once per process."""
    if tracking_uri in _ready:
        return
    with _lock:
        if tracking_uri in _ready:
            return
        path = sqlite_path(tracking_uri)
        if path is not None:
            from mlflow.tracking import MlflowClient

            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path.with_name(path.name + ".lock"), "w") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    MlflowClient(tracking_uri=tracking_uri).search_experiments(max_results=1)
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
        _ready.add(tracking_uri)


def mlflow_client():
    """The one way Maestro talks to MLflow: an explicit client on the configured tracking and registry
    stores (no global ``mlflow.set_tracking_uri``), each store opened safely first, every call through the
    ``mlflow`` circuit breaker (apps.core.resilience): while MLflow is unreachable, calls fail at once with
    ``CircuitBreakerError`` and the work that needed them is retried in the background."""
    from django.conf import settings
    from mlflow import MlflowClient

    from apps.core.resilience import GuardedClient

    for uri in {settings.MLFLOW_TRACKING_URI, settings.MLFLOW_REGISTRY_URI}:
        mlflow_store_ensure_ready(tracking_uri=uri)  # local SQLite stores only; servers need nothing
    client = MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI, registry_uri=settings.MLFLOW_REGISTRY_URI)
    return GuardedClient(client, name="mlflow", is_transient=is_transient_mlflow_error)


# MLflow error codes that mean "try again later", not "this request is wrong".
TRANSIENT_MLFLOW_ERROR_CODES = frozenset({"TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR", "REQUEST_LIMIT_EXCEEDED"})


def is_transient_mlflow_error(exc: BaseException) -> bool:
    """Whether an MLflow failure is worth retrying: unreachable, overloaded or failing inside, not refusing."""
    from apps.core.resilience import CircuitBreakerError

    if isinstance(exc, OSError | CircuitBreakerError):
        return True
    return getattr(exc, "error_code", "") in TRANSIENT_MLFLOW_ERROR_CODES
