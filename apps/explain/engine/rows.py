"""SHAP values row by row, on every core, within a deadline.

:class:`RowExplainer` explains one encoded row: with ``shap.ExactExplainer`` (all 2**F coalitions) or with the
antithetic permutation estimator of ``shap.PermutationExplainer``, run here on shap's own ``MaskedModel`` so that
(a) all of a row's permutations go to the model in as few calls as memory allows instead of one call each, and (b)
each row draws its permutations from its own generator, seeded with the explanation's seed and the row's position:
a row's values never depend on which thread explained it or on how many threads there were. Both are additive:
base value + sum of SHAP values == the model's output on the row.

:func:`explain_rows` hands the rows to ``threads`` threads sharing one adapter (each thread its own masker: shap's
masker keeps state between calls). Model calls release the GIL for most of their time, so two threads ran 1.5-1.7x
as fast as one on 2 cores. Rows are handed out in order; once a deadline would be passed by the next row (and the
least number of rows is done), no further row is started, so the rows explained are always a prefix of the sample.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from apps.explain.engine.adapter import ModelAdapter
from apps.explain.engine.common import EXACT

# At most this many model rows in one call of the permutation estimator (more permutations go in more calls).
MAX_ROWS_PER_CALL = 250_000

Progress = Callable[[int, int, float | None], None]  # (rows done, rows planned, seconds left or None)


class RowExplainer:
    """SHAP values of single encoded rows against one background, for one thread."""

    def __init__(
        self,
        predict: Callable[[np.ndarray], np.ndarray],
        background: np.ndarray,
        *,
        explainer: str,
        permutations: int,
        seed: int,
        feature_names: list[str] | None = None,
    ) -> None:
        import shap

        self.predict = predict
        self.kind = explainer
        self.permutations = permutations
        self.seed = seed
        self.masker = shap.maskers.Independent(background, max_samples=len(background))
        self.background_size = len(background)
        if explainer == EXACT:
            self.exact = shap.ExactExplainer(predict, self.masker, feature_names=feature_names)

    def __call__(self, row: np.ndarray, position: int) -> tuple[np.ndarray, np.ndarray]:
        """(values (F,) or (F, K), base value () or (K,)) of ``row``, the ``position``-th row explained."""
        if self.kind == EXACT:
            explanation = self.exact(row.reshape(1, -1), max_evals=2 ** len(row), silent=True)
            return np.asarray(explanation.values[0], dtype="float64"), np.asarray(
                explanation.base_values[0], dtype="float64"
            )
        return self._permutation(row, np.random.default_rng([self.seed, position]))

    def _permutation(self, row: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """shap.PermutationExplainer's estimator: each permutation turns the features on in its order, then off
        in the same order; a feature's value is the mean of the output changes its turning on and off made.
        Features whose value equals every background row's cannot change the output and get 0."""
        from shap import links
        from shap.utils import MaskedModel

        masked = MaskedModel(self.predict, self.masker, links.identity, True, row)
        varying = masked.varying_inputs()
        k = len(varying)
        if k == 0:
            outputs = masked(np.zeros(1, dtype=int), zero_index=0, batch_size=1)
            return np.zeros((len(row), *outputs.shape[1:])), np.asarray(outputs[0], dtype="float64")
        orders = [rng.permutation(varying) for _ in range(self.permutations)]
        per_call = max(1, MAX_ROWS_PER_CALL // max(1, 2 * k * self.background_size))
        totals: np.ndarray | None = None
        expected = None
        for first in range(0, len(orders), per_call):
            group = orders[first : first + per_call]
            masks = np.empty(1 + 2 * k * len(group), dtype=int)
            masks[0] = MaskedModel.delta_mask_noop_value
            for t, order in enumerate(group):
                start = 1 + 2 * k * t
                masks[start : start + k] = order
                masks[start + k : start + 2 * k] = order
            outputs = masked(masks, zero_index=0, batch_size=len(masks))
            if totals is None:
                totals = np.zeros((len(row), *outputs.shape[1:]))
                expected = outputs[0]
            for t, order in enumerate(group):
                base = 2 * k * t
                totals[order] += outputs[base + 1 : base + k + 1] - outputs[base : base + k]  # turning on
                totals[order] += outputs[base + k : base + 2 * k] - outputs[base + k + 1 : base + 2 * k + 1]  # off
        return totals / (2 * self.permutations), np.asarray(expected, dtype="float64")


@dataclass
class RowsOutcome:
    values: np.ndarray  # (m, F) or (m, F, K)
    base_values: np.ndarray  # (m,) or (m, K)
    rows_done: int
    rows_planned: int
    seconds: float
    threads: int
    stopped_early: bool

    @property
    def seconds_per_row(self) -> float:
        """Wall seconds per row with all threads working."""
        return self.seconds / self.rows_done if self.rows_done else 0.0


def explain_rows(
    adapter: ModelAdapter,
    background: np.ndarray,
    rows: np.ndarray,
    *,
    explainer: str,
    permutations: int,
    seed: int,
    threads: int = 1,
    deadline: float | None = None,
    min_rows: int = 1,
    progress: Progress | None = None,
    progress_interval: float = 0.5,
) -> RowsOutcome:
    """SHAP values of each of ``rows``, on ``threads`` threads, starting no row that would end past ``deadline``
    (a ``time.monotonic()`` reading) once ``min_rows`` are done. ``progress`` is called from this (the calling)
    thread about every ``progress_interval`` seconds (between rows when there is one thread), so a callback that
    writes to the database uses the caller's connection."""
    total = len(rows)
    threads = max(1, min(threads, total))
    results: list[tuple[np.ndarray, np.ndarray] | None] = [None] * total
    lock = threading.Lock()
    stop = threading.Event()
    state = {"next": 0, "done": 0, "busy_seconds": 0.0}
    started = time.monotonic()

    def take() -> int | None:
        with lock:
            if stop.is_set() or state["next"] >= total:
                return None
            done = state["done"]
            if deadline is not None and done >= min_rows:
                per_row = state["busy_seconds"] / done  # one thread's time for a row
                if time.monotonic() + per_row > deadline:
                    stop.set()
                    return None
            index = state["next"]
            state["next"] += 1
            return index

    def work(inline: bool = False) -> None:
        explain = RowExplainer(
            adapter.predict_fn,
            background,
            explainer=explainer,
            permutations=permutations,
            seed=seed,
            feature_names=adapter.feature_names,
        )
        reported = time.monotonic()
        while (index := take()) is not None:
            began = time.monotonic()
            results[index] = explain(rows[index], index)
            with lock:
                state["done"] += 1
                state["busy_seconds"] += time.monotonic() - began
            if inline and time.monotonic() - reported >= progress_interval:
                report()
                reported = time.monotonic()

    def report() -> None:
        if progress is None:
            return
        with lock:
            done = state["done"]
        elapsed = time.monotonic() - started
        left = (total - done) * elapsed / done if done else None
        progress(done, total, left)

    try:
        if threads == 1:
            work(inline=True)
        else:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="maestro-shap") as pool:
                futures = [pool.submit(work) for _ in range(threads)]
                pending = set(futures)
                while pending:
                    finished, pending = wait(pending, timeout=progress_interval, return_when=FIRST_EXCEPTION)
                    for future in finished:
                        if future.exception() is not None:
                            stop.set()
                            raise future.exception()
                    report()
    finally:
        stop.set()
    report()
    done = state["done"]
    kept = [result for result in results[:done] if result is not None]
    if len(kept) != done:  # pragma: no cover - rows are handed out in order and every row handed out finishes
        raise RuntimeError("The rows explained are not a prefix of the sample.")
    values = np.stack([value for value, _ in kept]) if kept else np.zeros((0, rows.shape[1]))
    base_values = np.stack([base for _, base in kept]) if kept else np.zeros(0)
    return RowsOutcome(
        values=values,
        base_values=base_values,
        rows_done=done,
        rows_planned=total,
        seconds=time.monotonic() - started,
        threads=threads,
        stopped_early=done < total,
    )
