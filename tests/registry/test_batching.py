"""Adaptive batching of online predictions (apps.registry.batching): concurrent requests of one version
share one model call, answers are identical to unbatched ones, one request's failure stays its own, and a
slow or failing model cannot wedge the version."""

from __future__ import annotations

import threading
import time

import pytest
from rest_framework.test import APIClient

from apps.core.exceptions import ServiceUnavailable
from apps.registry import batching, serving
from apps.registry.batching import VersionBatcher


def _run_together(count: int, work) -> list:
    """``work(i)`` in ``count`` threads released at once; answers (or exceptions) in order."""
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


class Doubler:
    """A stand-in model: each row's prediction is twice its ``x``; a row with ``x < 0`` breaks the call."""

    def __init__(self, delay: float = 0.02, first_delay: float | None = None) -> None:
        self.delay, self.first_delay = delay, first_delay
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, rows):
        with self.lock:
            first = not self.calls
            self.calls.append(len(rows))
        time.sleep(self.first_delay if first and self.first_delay is not None else self.delay)
        if any(row["x"] < 0 for row in rows):
            raise ValueError("negative x")
        return [2 * row["x"] for row in rows], [[0.5, 0.5] for _ in rows], ["a", "b"]


def test_concurrent_requests_share_model_calls_and_each_gets_its_own_rows():
    batcher, model = VersionBatcher((1, "sha")), Doubler()
    results = _run_together(8, lambda i: batcher.predict([{"x": i}], model, max_rows=32, max_wait=0.05, timeout=10))
    assert [result[0] for result in results] == [[2 * i] for i in range(8)]
    assert all(result[1] == [[0.5, 0.5]] and result[2] == ["a", "b"] for result in results)
    assert sum(model.calls) == 8 and len(model.calls) < 8  # fewer calls than requests


def test_a_batch_never_exceeds_max_rows():
    batcher, model = VersionBatcher((1, "sha")), Doubler()
    results = _run_together(
        9, lambda i: batcher.predict([{"x": i}, {"x": i}], model, max_rows=4, max_wait=0.05, timeout=10)
    )
    assert [result[0] for result in results] == [[2 * i, 2 * i] for i in range(9)]
    assert max(model.calls) <= 4


def test_a_request_that_breaks_the_model_fails_alone():
    batcher, model = VersionBatcher((1, "sha")), Doubler()
    batcher._last_batch_requests = 6  # concurrency seen: the first call waits for the others
    results = _run_together(
        6, lambda i: batcher.predict([{"x": -1 if i == 3 else i}], model, max_rows=32, max_wait=0.5, timeout=10)
    )
    assert isinstance(results[3], ValueError)
    assert [results[i][0] for i in (0, 1, 2, 4, 5)] == [[0], [2], [4], [8], [10]]
    assert model.calls[0] == 6  # tried together first, then each alone


def test_a_slow_model_answers_others_503_in_time_and_does_not_hold_the_version():
    batcher, model = VersionBatcher((1, "sha")), Doubler(delay=0.01, first_delay=1.5)
    batcher._last_batch_requests = 2  # concurrency seen: the first call waits for a second request
    answers: dict[str, object] = {}

    def stuck():
        answers["stuck"] = batcher.predict([{"x": 1}], model, max_rows=2, max_wait=1.0, timeout=0.3)

    leader = threading.Thread(target=stuck)
    leader.start()
    time.sleep(0.05)
    began = time.monotonic()  # this request joins the stuck call, and is answered 503 in time
    with pytest.raises(ServiceUnavailable, match="did not answer within 0.3 s"):
        batcher.predict([{"x": 2}], model, max_rows=2, max_wait=1.0, timeout=0.3)
    assert time.monotonic() - began < 1.0  # not the 1.5 s of the stuck call
    assert model.calls == [2]
    began = time.monotonic()  # the stuck call is past the timeout: a new request leads its own call
    assert batcher.predict([{"x": 3}], model, max_rows=2, max_wait=0, timeout=0.3)[0] == [6]
    assert time.monotonic() - began < 0.5
    leader.join(timeout=5)
    assert answers["stuck"][0] == [2]  # the slow call still answers its own request
    assert batcher._queue == []


def test_a_lone_request_does_not_wait():
    batcher, model = VersionBatcher((1, "sha")), Doubler(delay=0)
    began = time.monotonic()
    for value in range(5):
        assert batcher.predict([{"x": value}], model, max_rows=32, max_wait=1.0, timeout=10)[0] == [2 * value]
    assert time.monotonic() - began < 0.5


@pytest.mark.django_db
def test_batched_predictions_equal_unbatched_ones(make_version, trained, settings):
    version = make_version("titanic")
    rows = [dict(row) for row in trained["titanic"].rows] * 2  # 10 rows: 5 distinct, twice
    rows[7] = {**rows[7], "Age": None}  # a missing value too
    settings.PREDICT_BATCH_MAX_ROWS = 0
    alone = [serving.model_version_predict(version=version, instances=[row]) for row in rows]

    settings.PREDICT_BATCH_MAX_ROWS, settings.PREDICT_BATCH_MAX_WAIT_MS = len(rows), 1000
    batcher = batching.batchers.get((version.pk, version.artifact_sha256))
    batcher._last_batch_requests = 2  # concurrency seen before: the call waits until all rows are in
    together = _run_together(len(rows), lambda i: serving.model_version_predict(version=version, instances=[rows[i]]))
    assert batcher.calls == 1
    for one, batched in zip(alone, together, strict=True):
        assert batched.predictions == one.predictions
        assert batched.probabilities == one.probabilities
        assert batched.class_labels == one.class_labels


@pytest.mark.django_db
def test_predict_reports_the_model_and_the_platform_share(make_version, trained):
    version = make_version("titanic")
    client = APIClient()
    client.force_authenticate(version.registered_model.project.owner)
    url = f"/api/v1/models/{version.pk}/predict"
    response = client.post(url, {"instances": trained["titanic"].rows[:1]}, format="json")
    assert response.status_code == 200
    model, platform = response["Server-Timing"].split(", ")
    assert model.startswith("model;dur=") and float(model.split("=")[1]) > 0
    assert platform.startswith("platform;dur=") and float(platform.split("=")[1]) >= 0
    bad = client.post(url, {"instances": [{"nope": 1}]}, format="json")
    assert bad.status_code == 400 and "missing features" in bad.json()["instances"][0]
