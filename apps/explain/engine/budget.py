"""Time budgets: what one model call costs, what an explanation will cost, and the largest explanation that fits.

Every explanation has a budget in seconds. Before any SHAP value is computed the engine times the model on the
first batch (:func:`measure_cost`: one call on as many rows as the background, one on a large batch of masked
rows, giving a cost per call and a cost per row), then :func:`plan_shap` estimates what the requested explanation
will take and, when it does not fit, shrinks it step by step, in the order that costs precision least: a smaller
background, fewer explained rows, the Permutation explainer instead of Exact, fewer permutations. Each step taken is
recorded in words. When even the smallest explanation does not fit, :class:`BudgetTooSmall` says what budget it
needs. Parameters the caller set explicitly are never shrunk.

What a row costs (``B`` background rows, ``F`` features, ``v`` the share of background rows whose value differs
from the explained row's, which shap's masker skips otherwise):

- Exact: one model call on ``B · (1 + (2**F - 1) · v)`` rows;
- Permutation with ``p`` antithetic permutations: one model call on ``B · (1 + 2·p·F · v)`` rows.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from apps.explain.engine.common import DEFAULT_EXACT_MAX_FEATURES, DEFAULT_PERMUTATION_EVALS, EXACT, PERMUTATION

# What a row of the shap machinery costs beyond the model (masks, averaging), and the least the engine ever
# explains: fewer rows than this give no standard error or rank stability worth the name.
ROW_OVERHEAD_S = 0.002
MIN_GLOBAL_ROWS = 30
MIN_BACKGROUND = 10
# Threads explaining rows at once do not scale perfectly (the GIL, memory bandwidth): 2 threads measured
# 1.5-1.7x on 2 cores; planning assumes this much per extra thread and corrects itself on the first rows.
THREAD_EFFICIENCY = 0.6


class BudgetTooSmall(ValueError):
    """No explanation of the requested kind fits the budget; ``needed_s`` is the smallest budget that would."""

    def __init__(self, message: str, *, needed_s: float, budget_s: float) -> None:
        super().__init__(message)
        self.needed_s = needed_s
        self.budget_s = budget_s


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def speedup(threads: int) -> float:
    """How much faster ``threads`` threads explain rows than one, for planning."""
    return 1.0 + THREAD_EFFICIENCY * (max(1, threads) - 1)


@dataclass(frozen=True)
class CostModel:
    """Seconds per model call and per model row, measured on this predictor in this process."""

    call_s: float
    row_s: float
    probe_rows: int
    measured_s: float

    def seconds(self, *, calls: float, rows: float) -> float:
        return calls * self.call_s + rows * self.row_s

    def as_dict(self) -> dict[str, float]:
        return {
            "call_ms": round(self.call_s * 1000, 3),
            "row_us": round(self.row_s * 1e6, 4),
            "probe_rows": self.probe_rows,
            "measured_s": round(self.measured_s, 3),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CostModel:
        return cls(
            call_s=float(data["call_ms"]) / 1000,
            row_s=float(data["row_us"]) / 1e6,
            probe_rows=int(data.get("probe_rows") or 0),
            measured_s=float(data.get("measured_s") or 0.0),
        )


def masked_rows(background: np.ndarray, rows: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` rows that look like what shap's masker hands the model: each feature from either an explained
    row or a background row."""
    rng = np.random.default_rng(seed)
    left = rows[rng.integers(0, len(rows), count)]
    right = background[rng.integers(0, len(background), count)]
    return np.where(rng.random(left.shape) < 0.5, left, right)


def measure_cost(predict, background: np.ndarray, rows: np.ndarray, *, large: int = 20_000) -> CostModel:
    """Time ``predict`` (the adapter's) on the first batch: one call on as many masked rows as the background
    (twice, the faster counts: the first call of a process may warm caches) and one on ``large`` masked rows.
    The difference gives the cost of a row; the rest of the small call is the cost of a call."""
    began = time.perf_counter()
    small_n = max(1, len(background))
    large_n = max(large, 4 * small_n)
    small = masked_rows(background, rows, small_n, seed=1)
    big = masked_rows(background, rows, large_n, seed=2)
    times = []
    for _ in range(2):
        started = time.perf_counter()
        predict(small)
        times.append(time.perf_counter() - started)
    small_s = min(times)
    started = time.perf_counter()
    predict(big)
    large_s = time.perf_counter() - started
    row_s = max((large_s - small_s) / (large_n - small_n), 1e-9)
    call_s = max(small_s - row_s * small_n, 0.0)
    return CostModel(
        call_s=call_s, row_s=row_s, probe_rows=small_n * 2 + large_n, measured_s=time.perf_counter() - began
    )


def varying_share(background: np.ndarray, rows: np.ndarray, *, limit: int = 50) -> float:
    """The share of (background row, explained row, feature) triples whose values differ: shap's masker only
    evaluates the background rows that a masked feature changes (NaN never equals NaN there either)."""
    if len(background) == 0 or len(rows) == 0:
        return 1.0
    sample = rows[:limit]
    with np.errstate(invalid="ignore"):
        equal = np.isclose(sample[:, None, :], background[None, :, :])
    return float(max(1.0 - equal.mean(), 1e-3))


def permutations_for(n_features: int, max_evals: int | None) -> int:
    """Antithetic permutations in ``max_evals`` evaluations per row (by default max(500, 10·(2F+1)): ten at
    least), as shap's PermutationExplainer counts them: 2F+1 evaluations each."""
    per = 2 * n_features + 1
    evals = max_evals if max_evals is not None else max(DEFAULT_PERMUTATION_EVALS, 10 * per)
    if evals < per:
        raise ValueError(f"max_evals={evals} is too low for the Permutation explainer: it needs at least {per}.")
    return evals // per


@dataclass(frozen=True)
class Config:
    """One way to compute a SHAP explanation."""

    explainer: str
    background_size: int
    rows: int
    permutations: int = 0  # Permutation only

    def evaluations(self, n_features: int) -> int:
        """Masked evaluations per row (as shap's ``max_evals`` counts them)."""
        if self.explainer == EXACT:
            return 2**n_features
        return self.permutations * (2 * n_features + 1)

    def model_rows(self, n_features: int, share: float) -> float:
        """Model rows per explained row."""
        b = self.background_size
        if self.explainer == EXACT:
            return b * (1 + (2**n_features - 1) * share)
        return b * (1 + 2 * self.permutations * n_features * share)

    def seconds_per_row(self, cost: CostModel, n_features: int, share: float) -> float:
        return cost.seconds(calls=1, rows=self.model_rows(n_features, share)) + ROW_OVERHEAD_S


@dataclass
class Plan:
    """What the budget chose for a SHAP explanation, and why."""

    config: Config
    n_features: int
    budget_s: float  # the SHAP part's share of the budget
    estimated_s: float
    seconds_per_row: float
    threads: int
    varying_share: float
    cost: CostModel
    requested: Config
    reductions: list[str] = field(default_factory=list)

    @property
    def max_evals(self) -> int:
        return self.config.evaluations(self.n_features)

    def describe(self) -> str:
        """The choice in one sentence."""
        config = self.config
        how = "Exact" if config.explainer == EXACT else f"Permutation ({config.permutations} antithetic permutations)"
        text = (
            f"{how} over {config.rows} rows with a background of {config.background_size}: about "
            f"{self.estimated_s:.1f} s on {self.threads} thread(s) for {self.budget_s:.1f} s of budget"
        )
        if self.reductions:
            text += "; to fit, " + "; ".join(self.reductions)
        return text + "."

    def as_dict(self) -> dict[str, Any]:
        return {
            "explainer": self.config.explainer,
            "sample_size": self.config.rows,
            "background_size": self.config.background_size,
            "permutations": self.config.permutations or None,
            "max_evals": self.max_evals,
            "threads": self.threads,
            "shap_budget_s": round(self.budget_s, 3),
            "estimated_s": round(self.estimated_s, 3),
            "seconds_per_row": round(self.seconds_per_row, 5),
            "varying_share": round(self.varying_share, 4),
            "cost": self.cost.as_dict(),
            "requested": asdict(self.requested),
            "reductions": list(self.reductions),
            "reason": self.describe(),
        }


def _estimate(config: Config, cost: CostModel, n_features: int, share: float, threads: int) -> tuple[float, float]:
    per_row = config.seconds_per_row(cost, n_features, share)
    return per_row * config.rows / speedup(min(threads, config.rows)), per_row


# The reductions, in the order they cost precision least. Each answers the new config and what it did, or None
# when it does not apply (the parameter was given explicitly, or is already at or below the step).
def _background(size: int):
    def step(config: Config, fixed: set[str], n_features: int) -> tuple[Config, str] | None:
        if "background_size" in fixed or config.background_size <= size:
            return None
        return replace(config, background_size=size), f"background {config.background_size} → {size} rows"

    return step


def _rows(count: int):
    def step(config: Config, fixed: set[str], n_features: int) -> tuple[Config, str] | None:
        if "sample_size" in fixed or config.rows <= count:
            return None
        return replace(config, rows=count), f"explained rows {config.rows} → {count}"

    return step


def _to_permutation(config: Config, fixed: set[str], n_features: int) -> tuple[Config, str] | None:
    if config.explainer != EXACT or "max_evals" in fixed:
        return None
    permutations = permutations_for(n_features, None)
    if permutations * (2 * n_features + 1) >= 2**n_features:
        return None  # Permutation would cost as much as Exact here
    new = replace(config, explainer=PERMUTATION, permutations=permutations)
    return new, f"Exact ({2**n_features} evaluations a row) → Permutation ({new.evaluations(n_features)})"


def _permutations(count: int):
    def step(config: Config, fixed: set[str], n_features: int) -> tuple[Config, str] | None:
        if config.explainer != PERMUTATION or "max_evals" in fixed or config.permutations <= count:
            return None
        return replace(config, permutations=count), f"permutations {config.permutations} → {count}"

    return step


GLOBAL_STEPS = (
    _background(50),
    _rows(200),
    _to_permutation,
    _permutations(10),
    _rows(100),
    _permutations(5),
    _background(25),
    _rows(50),
    _permutations(3),
    _background(MIN_BACKGROUND),
    _permutations(2),
    _rows(MIN_GLOBAL_ROWS),
    _permutations(1),
)
LOCAL_STEPS = (
    _background(50),
    _to_permutation,
    _permutations(10),
    _background(25),
    _permutations(5),
    _permutations(3),
    _background(MIN_BACKGROUND),
    _permutations(2),
    _permutations(1),
)


def requested_config(
    *,
    n_features: int,
    rows: int,
    background_size: int,
    max_evals: int | None,
    exact_max_features: int = DEFAULT_EXACT_MAX_FEATURES,
) -> Config:
    """The explanation as asked, before any budget: Exact while ``n_features <= exact_max_features`` and
    ``max_evals`` (if given) affords its 2**F evaluations, Permutation otherwise."""
    if n_features <= exact_max_features and (max_evals is None or max_evals >= 2**n_features):
        return Config(explainer=EXACT, background_size=background_size, rows=rows)
    return Config(
        explainer=PERMUTATION,
        background_size=background_size,
        rows=rows,
        permutations=permutations_for(n_features, max_evals),
    )


def plan_shap(
    *,
    requested: Config,
    n_features: int,
    budget_s: float,
    cost: CostModel,
    share: float,
    threads: int = 1,
    fixed: Sequence[str] = (),
    steps: Sequence = GLOBAL_STEPS,
    what: str = "explanation",
) -> Plan:
    """The requested config if it fits ``budget_s``, else the first one down ``steps`` that does.

    Raises :class:`BudgetTooSmall` (with the budget needed by the smallest config) when none does."""
    fixed_names = set(fixed)
    config = requested
    reductions: list[str] = []
    estimated, per_row = _estimate(config, cost, n_features, share, threads)
    for step in steps:
        if estimated <= budget_s:
            break
        taken = step(config, fixed_names, n_features)
        if taken is None:
            continue
        config, words = taken
        reductions.append(words)
        estimated, per_row = _estimate(config, cost, n_features, share, threads)
    if estimated > budget_s:
        needed = math.ceil(estimated * 10) / 10
        kept = f" (with {', '.join(sorted(fixed_names))} as given)" if fixed_names else ""
        raise BudgetTooSmall(
            f"This {what} needs about {needed:.1f} s for its SHAP values at the least{kept}, "
            f"more than the {budget_s:.1f} s its budget leaves them; ask with a larger budget_s.",
            needed_s=needed,
            budget_s=budget_s,
        )
    return Plan(
        config=config,
        n_features=n_features,
        budget_s=budget_s,
        estimated_s=estimated,
        seconds_per_row=per_row,
        threads=max(1, min(threads, config.rows)),
        varying_share=share,
        cost=cost,
        requested=requested,
        reductions=reductions,
    )


@dataclass(frozen=True)
class PermutationImportancePlan:
    """How AutoGluon's permutation importance is sized to its share of the budget."""

    subsample_size: int
    num_shuffle_sets: int
    time_limit: float
    estimated_s: float
    reductions: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reductions": list(self.reductions)}


def permutation_importance_seconds(cost: CostModel, *, n_features: int, rows: int, shuffles: int) -> float:
    """AutoGluon shuffles each feature of ``rows`` rows once per shuffle set, many features per model call."""
    model_rows = shuffles * (n_features + 1) * rows
    calls = shuffles * max(1, math.ceil(n_features * rows / 100_000)) + 1
    return cost.seconds(calls=calls, rows=model_rows)


def plan_permutation_importance(
    *, cost: CostModel, n_features: int, holdout_rows: int, shuffles: int, subsample: int, budget_s: float
) -> PermutationImportancePlan:
    """The permutation importance that fits ``budget_s``: fewer rows first (to 1,000, then 500), then fewer
    shuffle sets (to 2). Past that the time limit bounds it: AutoGluon always finishes one shuffle set."""
    rows = min(subsample, holdout_rows)
    reductions: list[str] = []

    def estimate() -> float:
        return permutation_importance_seconds(cost, n_features=n_features, rows=rows, shuffles=shuffles)

    for smaller in (1000, 500):
        if estimate() <= budget_s or rows <= smaller:
            continue
        reductions.append(f"held-out rows {rows} → {smaller}")
        rows = smaller
    while estimate() > budget_s and shuffles > 2:
        reductions.append(f"shuffle sets {shuffles} → {shuffles - 1}")
        shuffles -= 1
    return PermutationImportancePlan(
        subsample_size=rows,
        num_shuffle_sets=shuffles,
        time_limit=max(budget_s, 0.1),
        estimated_s=estimate(),
        reductions=tuple(reductions),
    )


def least_seconds(
    *,
    requested: Config,
    n_features: int,
    cost: CostModel,
    share: float,
    threads: int = 1,
    fixed: Sequence[str] = (),
    steps: Sequence = GLOBAL_STEPS,
) -> float:
    """The estimated seconds of the smallest explanation ``steps`` can shrink ``requested`` to."""
    try:
        plan_shap(
            requested=requested,
            n_features=n_features,
            budget_s=0.0,
            cost=cost,
            share=share,
            threads=threads,
            fixed=fixed,
            steps=steps,
        )
    except BudgetTooSmall as exc:
        return exc.needed_s
    return 0.0  # pragma: no cover - no explanation costs nothing


def least_global_seconds(
    *, cost: CostModel, n_features: int, share: float, params: dict[str, Any], threads: int = 1
) -> float:
    """The least seconds the SHAP part of a global explanation asked with ``params`` needs on a model whose cost
    and background share were measured before."""
    requested = requested_config(
        n_features=n_features,
        rows=int(params["sample_size"]),
        background_size=int(params["background_size"]),
        max_evals=params.get("max_evals"),
        exact_max_features=int(params.get("exact_max_features") or DEFAULT_EXACT_MAX_FEATURES),
    )
    return least_seconds(
        requested=requested,
        n_features=n_features,
        cost=cost,
        share=share,
        threads=threads,
        fixed=params.get("fixed") or (),
    )
