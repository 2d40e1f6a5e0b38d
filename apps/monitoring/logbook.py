"""The prediction log's writer: off the request path, bounded, never blocking.

The registry calls :func:`online_predictions` right after an online prediction (``hooks.PredictionListener``).
On the request path it only decides which rows are sampled, makes their public ids and puts one item on a
bounded in-process queue (``put_nowait``); a daemon thread of the process drains the queue every
``MONITORING_LOG_FLUSH_SECONDS`` (or as soon as ``MONITORING_LOG_BATCH_ROWS`` rows wait) and writes the rows in
bulk. When the queue is full the rows are dropped and counted (``maestro_predictions_log_dropped_total``); the
client then gets ``null`` ids for them. Batch predictions are written by the worker that made them
(:func:`batch_predictions`), with ids derived from the batch, so a retried batch logs each row once.

Whether a version is its model's production version, and the model's sampling rate, are read at most every
``MONITORING_STATE_TTL`` seconds per process.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from prometheus_client import Counter

if TYPE_CHECKING:
    import pandas as pd

    from apps.registry.models import ModelVersion

logger = logging.getLogger("maestro.monitoring")

LOGGED = Counter("maestro_predictions_logged", "Predictions written to the prediction log", ["source"])
DROPPED = Counter("maestro_predictions_log_dropped", "Predictions not logged because the log's queue was full")
BATCH_NAMESPACE = uuid.UUID("5b0c7d1e-3f2a-4c38-9b51-6d1f0e8a2c47")


# ---------------------------------------------------------------------------
# Per-process view of each model's monitoring state
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MonitorState:
    production_version_id: int | None
    enabled: bool
    sample_rate: float


class MonitorStates:
    """``{registered_model_id: MonitorState}`` read from the database at most every ``MONITORING_STATE_TTL`` s."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[float, MonitorState]] = {}
        self._lock = threading.Lock()

    def get(self, registered_model_id: int) -> MonitorState:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(registered_model_id)
        if entry is not None and now - entry[0] < settings.MONITORING_STATE_TTL:
            return entry[1]
        from apps.registry.models import RegisteredModel

        row = (
            RegisteredModel.objects.filter(pk=registered_model_id)
            .values_list("production_version_id", "monitor__enabled", "monitor__sample_rate")
            .first()
        )
        if row is None:
            state = MonitorState(None, False, 0.0)
        else:
            production, enabled, rate = row
            state = MonitorState(
                production_version_id=production,
                enabled=True if enabled is None else enabled,
                sample_rate=settings.MONITORING_DEFAULT_SAMPLE_RATE if rate is None else rate,
            )
        with self._lock:
            self._entries[registered_model_id] = (now, state)
        return state

    def forget(self, registered_model_id: int | None = None) -> None:
        with self._lock:
            if registered_model_id is None:
                self._entries.clear()
            else:
                self._entries.pop(registered_model_id, None)


monitor_states = MonitorStates()


# ---------------------------------------------------------------------------
# The queue and its writer thread
# ---------------------------------------------------------------------------
@dataclass
class _Item:
    version: ModelVersion
    created_at: Any
    caller_id: int | None
    latency_ms: float | None
    rows: list[tuple[uuid.UUID, dict[str, Any], Any, list[float] | None]]


class PredictionLogWriter:
    """A bounded queue per process and the daemon thread that writes it in bulk."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def _ensure(self) -> None:
        """A queue (and, unless turned off, a thread) per process: a forked worker makes its own."""
        if self._pid == os.getpid() and (self._thread is not None or not settings.MONITORING_LOG_BACKGROUND):
            return
        with self._lock:
            if self._pid != os.getpid():
                self._queue = queue.Queue(maxsize=max(1, settings.MONITORING_LOG_QUEUE_SIZE))
                self._thread = None
                self._pid = os.getpid()
            if self._thread is None and settings.MONITORING_LOG_BACKGROUND:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
                self._thread.start()

    def submit(self, item: _Item) -> bool:
        """Queue ``item`` without waiting; False (and counted as dropped) when the queue is full."""
        self._ensure()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            DROPPED.inc(len(item.rows))
            return False
        return True

    def pending(self) -> int:
        return self._queue.qsize()

    def drain(self, *, limit_rows: int | None = None) -> int:
        """Write what waits on the queue (in the calling thread); answers the rows written."""
        items: list[_Item] = []
        rows = 0
        limit = limit_rows or settings.MONITORING_LOG_BATCH_ROWS
        while rows < limit:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            items.append(item)
            rows += len(item.rows)
        if not items:
            return 0
        try:
            return write_online(items)
        finally:
            for _ in items:
                self._queue.task_done()

    def _run(self) -> None:
        interval = settings.MONITORING_LOG_FLUSH_SECONDS
        while not self._stop.is_set():
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline and self._queue.qsize() < settings.MONITORING_LOG_BATCH_ROWS:
                if self._stop.wait(min(0.05, interval)):
                    break
            try:
                close_old_connections()
                while self.drain():
                    pass
            except Exception:  # a database outage: these rows are lost (counted), the thread carries on
                logger.exception("Could not write the prediction log")
            finally:
                close_old_connections()
        connection.close()  # the thread's own connection

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread after a last drain (at exit, and in tests)."""
        thread = self._thread
        self._stop.set()
        if thread is not None:
            thread.join(timeout)
        self._thread = None
        self._pid = None


writer = PredictionLogWriter()


def _flush_at_exit() -> None:
    """A process that ends writes what its thread had not written yet (without a thread, nothing is written)."""
    if writer._thread is not None and writer._pid == os.getpid():
        writer.stop()


atexit.register(_flush_at_exit)


def write_online(items: list[_Item]) -> int:
    from apps.monitoring.models import PredictionRecord

    records = []
    for item in items:
        names = [feature["name"] for feature in item.version.features]
        for public_id, instance, prediction, probabilities in item.rows:
            records.append(
                PredictionRecord(
                    public_id=public_id,
                    registered_model_id=item.version.registered_model_id,
                    model_version_id=item.version.pk,
                    source="online",
                    inputs={name: instance.get(name) for name in names},
                    prediction=prediction,
                    probabilities=probabilities,
                    latency_ms=item.latency_ms,
                    caller_id=item.caller_id,
                    created_at=item.created_at,
                )
            )
    try:
        PredictionRecord.objects.bulk_create(records, batch_size=1000, ignore_conflicts=True)
    except Exception:
        DROPPED.inc(len(records))
        raise
    LOGGED.labels(source="online").inc(len(records))
    return len(records)


# ---------------------------------------------------------------------------
# The registry's listener
# ---------------------------------------------------------------------------
def online_predictions(
    *,
    version: ModelVersion,
    instances: list[dict[str, Any]],
    predictions: list[Any],
    probabilities: list[list[float]] | None,
    caller_id: int | None,
    latency_ms: float | None = None,
) -> list[str | None] | None:
    """Sample and queue the rows of an online prediction of a production version; their ids (None: not logged)."""
    state = monitor_states.get(version.registered_model_id)
    if not state.enabled or state.production_version_id != version.pk:
        return None
    rate = state.sample_rate
    ids: list[str | None] = []
    rows = []
    for index, instance in enumerate(instances):
        if rate < 1.0 and random.random() >= rate:  # noqa: S311 - sampling, not security
            ids.append(None)
            continue
        public_id = uuid.uuid4()
        ids.append(str(public_id))
        rows.append((public_id, instance, predictions[index], probabilities[index] if probabilities else None))
    if rows:
        item = _Item(version=version, created_at=timezone.now(), caller_id=caller_id, latency_ms=latency_ms, rows=rows)
        if not writer.submit(item):
            return [None] * len(ids)
    return ids


def batch_predictions(*, version: ModelVersion, output: pd.DataFrame, batch_id: int, caller_id: int | None) -> int:
    """Log the sampled rows of a batch prediction of a production version (in the worker that made it)."""
    import json

    from apps.monitoring.models import PredictionRecord

    monitor_states.forget(version.registered_model_id)
    state = monitor_states.get(version.registered_model_id)
    if not state.enabled or state.production_version_id != version.pk or state.sample_rate <= 0:
        return 0
    names = [feature["name"] for feature in version.features if feature["name"] in output.columns]
    probability_columns = [column for column in output.columns if str(column).startswith("probability_")]
    rng = np.random.default_rng(batch_id)
    chosen = np.flatnonzero(rng.random(len(output)) < state.sample_rate)
    now = timezone.now()
    written = 0
    chunk = settings.MONITORING_LOG_BATCH_ROWS
    for start in range(0, len(chosen), chunk):
        positions = chosen[start : start + chunk]
        part = output.iloc[positions]
        inputs = json.loads(part[names].to_json(orient="records", date_format="iso"))
        outputs = json.loads(part[["prediction"]].to_json(orient="records"))
        probabilities = part[probability_columns].to_numpy().tolist() if probability_columns else None
        records = [
            PredictionRecord(
                public_id=uuid.uuid5(BATCH_NAMESPACE, f"{batch_id}:{position}"),
                registered_model_id=version.registered_model_id,
                model_version_id=version.pk,
                source="batch",
                batch_id=batch_id,
                inputs=inputs[offset],
                prediction=outputs[offset]["prediction"],
                probabilities=probabilities[offset] if probabilities else None,
                caller_id=caller_id,
                created_at=now,
            )
            for offset, position in enumerate(positions.tolist())
        ]
        PredictionRecord.objects.bulk_create(records, ignore_conflicts=True)
        written += len(records)
    LOGGED.labels(source="batch").inc(written)
    return written
