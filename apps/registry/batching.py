"""Adaptive batching of online predictions: concurrent requests of one version, in one process, answered
by one model call.

AutoGluon's per-call overhead dominates a one-row prediction (eight rows cost little more than one), so
when several requests for the same version are in flight in a process (gunicorn's threads), the rows that
arrive while a model call runs are predicted together by the next call, as BentoML's and Triton's
adaptive batching do. There is no background thread: the first request that finds no call running for
its version leads — it takes the queued rows (up to ``PREDICT_BATCH_MAX_ROWS``), predicts them in its own
thread and hands every waiting request its slice. A leader waits up to ``PREDICT_BATCH_MAX_WAIT_MS`` for
more rows only when the version's previous call served more than one request (concurrency seen), so a
lone client never waits. ``PREDICT_BATCH_MAX_ROWS = 0`` turns batching off.

Each request's rows are validated before they are queued, so a bad row fails only its own request. When
a batched call raises, every request of the batch is predicted alone, so a row that breaks the model
fails only its own request too. A request whose answer has not come within ``PREDICT_BATCH_TIMEOUT``
seconds gets 503 (and its rows leave the queue); a leader stuck in the model for longer than that no
longer holds the version: the next request leads a new call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from apps.core.exceptions import ServiceUnavailable

logger = logging.getLogger("maestro.registry.batching")

# predict(rows) -> (predictions, probabilities or None, class labels): one prediction (and one list of
# probabilities) per row, in order; the class labels are the version's, the same for every call.
Result = tuple[list[Any], list[list[float]] | None, list[Any]]
PredictRows = Callable[[list[dict[str, Any]]], Result]


@dataclass(eq=False)  # compared by identity: two requests may carry equal rows
class _Request:
    rows: list[dict[str, Any]]
    arrived: float = field(default_factory=time.monotonic)
    done: bool = False
    predictions: list[Any] | None = None
    probabilities: list[list[float]] | None = None
    class_labels: list[Any] = field(default_factory=list)
    error: BaseException | None = None


class VersionBatcher:
    """The queue and the running model call of one loaded version in this process."""

    def __init__(self, key: tuple[int, str]) -> None:
        self.key = key
        self._condition = threading.Condition(threading.Lock())
        self._queue: list[_Request] = []
        self._leader: int = 0  # generation of the running call; 0 when none runs
        self._generation = 0
        self._leader_since = 0.0
        self._last_batch_requests = 1
        self.calls = 0  # model calls made (for tests and measurement)

    def predict(
        self, rows: list[dict[str, Any]], predict_rows: PredictRows, *, max_rows: int, max_wait: float, timeout: float
    ) -> Result:
        request = _Request(rows)
        deadline = request.arrived + timeout
        with self._condition:
            self._queue.append(request)
            self._condition.notify_all()
            while True:
                if request.done:
                    return self._answer(request)
                now = time.monotonic()
                queued = request in self._queue  # not yet taken by a running call
                if queued and (not self._leader or now - self._leader_since > timeout):  # none runs, or stuck
                    batch, generation = self._lead(request, max_rows=max_rows, max_wait=max_wait)
                    break
                if now >= deadline:
                    if request in self._queue:
                        self._queue.remove(request)
                    raise ServiceUnavailable(
                        f"The model did not answer within {timeout:g} s; try again.", extra={"retry": True}
                    )
                self._condition.wait(deadline - now)
        try:
            self._run(batch, predict_rows)
        finally:
            with self._condition:
                if self._leader == generation:
                    self._leader = 0
                self._condition.notify_all()
        return self._answer(request)

    def _lead(self, request: _Request, *, max_rows: int, max_wait: float) -> tuple[list[_Request], int]:
        """Become the version's running call (the condition's lock held): answer the requests it serves."""
        self._generation += 1
        self._leader, self._leader_since = self._generation, time.monotonic()
        if max_wait > 0 and self._last_batch_requests > 1:  # concurrency seen: give the others a moment
            oldest = self._queue[0].arrived if self._queue else request.arrived
            while _rows(self._queue) < max_rows:
                remaining = oldest + max_wait - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
        self._queue.remove(request)
        batch, count = [request], len(request.rows)  # the leader's own rows always
        for queued in list(self._queue):
            if count + len(queued.rows) > max_rows:
                break
            batch.append(queued)
            count += len(queued.rows)
        for queued in batch[1:]:
            self._queue.remove(queued)
        self._last_batch_requests = len(batch)
        return batch, self._leader

    def _run(self, batch: list[_Request], predict_rows: PredictRows) -> None:
        """Predict ``batch`` in one call (outside the lock) and hand each request its slice."""
        self.calls += 1
        try:
            predictions, probabilities, labels = predict_rows([row for request in batch for row in request.rows])
        except Exception as exc:
            if len(batch) == 1:
                self._finish(batch[0], error=exc)
                return
            logger.warning("A batched prediction of %s requests failed (%s); predicting each alone", len(batch), exc)
            for request in batch:
                try:
                    self._finish(request, result=predict_rows(request.rows))
                except Exception as alone:  # this request's own failure, as without batching
                    self._finish(request, error=alone)
            return
        start = 0
        for request in batch:
            end = start + len(request.rows)
            mine = probabilities[start:end] if probabilities is not None else None
            self._finish(request, result=(predictions[start:end], mine, labels))
            start = end

    def _finish(self, request: _Request, *, result=None, error: BaseException | None = None) -> None:
        with self._condition:
            if result is not None:
                request.predictions, request.probabilities, request.class_labels = result
            request.error = error
            request.done = True
            self._condition.notify_all()

    @staticmethod
    def _answer(request: _Request) -> Result:
        if request.error is not None:
            raise request.error
        return request.predictions, request.probabilities, request.class_labels  # type: ignore[return-value]


def _rows(queue: list[_Request]) -> int:
    return sum(len(request.rows) for request in queue)


class Batchers:
    """One ``VersionBatcher`` per (version id, archive SHA-256) in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batchers: dict[tuple[int, str], VersionBatcher] = {}

    def get(self, key: tuple[int, str]) -> VersionBatcher:
        with self._lock:
            batcher = self._batchers.get(key)
            if batcher is None:
                batcher = self._batchers[key] = VersionBatcher(key)
            return batcher

    def clear(self) -> None:
        with self._lock:
            self._batchers.clear()


batchers = Batchers()


def enabled() -> bool:
    return settings.PREDICT_BATCH_MAX_ROWS > 0


def predict_batched(key: tuple[int, str], rows: list[dict[str, Any]], predict_rows: PredictRows) -> Result:
    """``predict_rows(rows)``, possibly together with other requests' rows of the same version."""
    return batchers.get(key).predict(
        rows,
        predict_rows,
        max_rows=settings.PREDICT_BATCH_MAX_ROWS,
        max_wait=settings.PREDICT_BATCH_MAX_WAIT_MS / 1000,
        timeout=settings.PREDICT_BATCH_TIMEOUT,
    )
