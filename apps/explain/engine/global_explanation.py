"""A version's whole global explanation in one budget: SHAP importances and AutoGluon's permutation importance.

The order keeps the budget honest: draw the rows and time the model (which answers whether anything fits at all:
:class:`~apps.explain.engine.budget.BudgetTooSmall` before any real work), the permutation importance sized to its
share, then SHAP with what is left once ``reserve_s`` (the caller's plots and storing) is set aside.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from apps.explain.engine import budget as budgeting
from apps.explain.engine.budget import BudgetTooSmall
from apps.explain.engine.common import DEFAULT_EXACT_MAX_FEATURES
from apps.explain.engine.permutation import PermutationImportanceResult, permutation_importance
from apps.explain.engine.shap_explainer import GlobalShapJob, GlobalShapResult
from apps.explain.engine.warm import warm_up

if TYPE_CHECKING:
    from autogluon.tabular import TabularPredictor

# Progress of the whole explanation at the end of each phase.
PREPARED, PERMUTED, EXPLAINED = 0.1, 0.2, 0.9


@dataclass
class GlobalExplanation:
    shap: GlobalShapResult
    permutation: PermutationImportanceResult | None
    budget: dict[str, Any]  # the budget, each phase's seconds, and what was chosen


def explain_global(
    *,
    predictor: TabularPredictor,
    features: Sequence[dict[str, Any]],
    problem_type: str,
    class_labels: Sequence[Any] | None,
    data: pd.DataFrame,
    budget_s: float,
    holdout: pd.DataFrame | None = None,
    target: str | None = None,
    background_size: int = 100,
    sample_size: int = 300,
    seed: int = 0,
    max_evals: int | None = None,
    exact_max_features: int = DEFAULT_EXACT_MAX_FEATURES,
    fixed: Sequence[str] = (),
    permutation_shuffles: int = 5,
    permutation_subsample: int = 5000,
    permutation_share: float = 0.2,
    reserve_s: float = 3.0,
    threads: int = 1,
    progress: Callable[[float, float | None], None] | None = None,
    started: float | None = None,
) -> GlobalExplanation:
    """SHAP (and, with ``holdout`` and ``target``, permutation importance) of the predictor within ``budget_s``
    seconds in all, of which ``reserve_s`` are left to the caller. ``progress(fraction, seconds_left)`` is called
    as the work advances. ``started`` (a ``time.monotonic()`` reading) is when the budget's clock started, when
    the caller spent some of it already (loading the predictor and the data); by default, now. Raises
    BudgetTooSmall, naming the budget needed, when not even the smallest explanation fits."""
    started = time.monotonic() if started is None else started

    def report(fraction: float, left: float | None) -> None:
        if progress is not None:
            progress(round(min(max(fraction, 0.0), 1.0), 4), None if left is None else max(left, 0.0) + reserve_s)

    loaded_s = time.monotonic() - started
    compiled_s = warm_up()
    started += compiled_s  # compiling shap's code is once a process (workers do it as they start), not the budget's
    job = GlobalShapJob.start(
        predictor=predictor,
        features=features,
        problem_type=problem_type,
        class_labels=class_labels,
        data=data,
        background_size=background_size,
        sample_size=sample_size,
        seed=seed,
        max_evals=max_evals,
        exact_max_features=exact_max_features,
        fixed=fixed,
    )
    cost = job.job.measure()
    n_features = job.job.n_features
    has_holdout = holdout is not None and target is not None and len(holdout) >= 2
    permutation_plan = None
    if has_holdout:
        permutation_plan = budgeting.plan_permutation_importance(
            cost=cost,
            n_features=n_features,
            holdout_rows=len(holdout),
            shuffles=permutation_shuffles,
            subsample=permutation_subsample,
            budget_s=permutation_share * budget_s,
        )

    def shap_budget(spent_later: float) -> float:
        return budget_s - (time.monotonic() - started) - reserve_s - spent_later

    try:  # does anything fit? (before the permutation importance spends its share)
        job.job.choose(
            requested=job.requested,
            budget_s=shap_budget(permutation_plan.estimated_s if permutation_plan else 0.0),
            threads=threads,
            fixed=job.fixed,
        )
    except BudgetTooSmall as exc:
        spent = time.monotonic() - started
        needed = math.ceil(exc.needed_s + spent + reserve_s + (permutation_plan.estimated_s if permutation_plan else 0))
        raise BudgetTooSmall(
            f"This global explanation needs a budget of about {needed} s on this model and worker "
            f"(its smallest SHAP run alone takes about {exc.needed_s:.1f} s); it was given {budget_s:g} s. "
            "Ask again with a larger budget_s.",
            needed_s=needed,
            budget_s=budget_s,
        ) from None
    prepared_s = time.monotonic() - started
    report(PREPARED, None)

    permutation = None
    permutation_s = 0.0
    if has_holdout and permutation_plan is not None:
        began = time.monotonic()
        permutation = permutation_importance(
            predictor=predictor,
            holdout=holdout,
            target=target,
            features=features,
            seed=seed,
            subsample_size=permutation_plan.subsample_size,
            num_shuffle_sets=permutation_plan.num_shuffle_sets,
            time_limit=permutation_plan.time_limit,
        )
        permutation_s = time.monotonic() - began
    report(PERMUTED, None)

    def rows_progress(done: int, total: int, left: float | None) -> None:
        report(PERMUTED + (EXPLAINED - PERMUTED) * (done / total if total else 1.0), left)

    left = shap_budget(0.0)
    shap_started = time.monotonic()
    result = job.finish(budget_s=max(left, 0.001), threads=threads, progress=rows_progress)
    result.budget_s = budget_s
    result.elapsed_seconds = round(time.monotonic() - started, 3)
    shap_s = time.monotonic() - shap_started
    report(EXPLAINED, 0.0)
    record = {
        "budget_s": budget_s,
        "reserve_s": reserve_s,
        "threads": threads,
        "seconds": {
            "load": round(loaded_s, 3),
            "compile": round(compiled_s, 3),
            "prepare": round(prepared_s - loaded_s, 3),
            "permutation_importance": round(permutation_s, 3),
            "shap": round(shap_s, 3),
            "total": round(time.monotonic() - started, 3),
        },
        "permutation_importance": permutation_plan.as_dict() if permutation_plan else None,
        "shap": result.plan,
    }
    return GlobalExplanation(shap=result, permutation=permutation, budget=record)
