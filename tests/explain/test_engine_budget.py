"""The engine within a budget, on real (tiny) AutoGluon models: Exact values equal brute-force Shapley values, every
explainer a budget can pick stays additive, permutations do not depend on threads, a run stops at its deadline,
and a global explanation fits its budget or says which budget it needs."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pandas as pd
import pytest

from apps.explain import engine
from apps.explain.engine import BudgetTooSmall, Config, ModelAdapter, sample_background
from apps.explain.engine.rows import RowExplainer, explain_rows
from apps.explain.engine.shap_explainer import GlobalShapJob, ShapJob

pytestmark = pytest.mark.slow

ADDITIVITY = 1e-6


def brute_force_shapley(predict, row: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Shapley values of the interventional game v(S) = mean over background of f(x_S, b_rest), by definition."""
    n = len(row)

    def value(subset: tuple[int, ...]) -> float:
        mixed = background.copy()
        mixed[:, list(subset)] = row[list(subset)]
        return float(np.mean(predict(mixed)))

    values = np.zeros(n)
    for j in range(n):
        others = [k for k in range(n) if k != j]
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                values[j] += weight * (value(tuple(sorted((*subset, j)))) - value(subset))
    return values


def job_for(model, *, background_size: int, rows: pd.DataFrame, seed: int = 0) -> ShapJob:
    background = sample_background(model.X, features=model.features, size=background_size, seed=seed)
    return ShapJob(**model.kwargs, background=background, rows=rows, seed=seed)


def test_exact_values_equal_brute_force_shapley_values(titanic):
    job = job_for(titanic, background_size=12, rows=titanic.X.iloc[[3, 8]])
    explain = RowExplainer(job.adapter.predict_fn, job.background_matrix, explainer="exact", permutations=0, seed=0)
    for position, row in enumerate(job.matrix):
        values, base = explain(row, position)
        expected = brute_force_shapley(job.adapter.predict_fn, row, job.background_matrix)
        np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)
        assert base == pytest.approx(float(job.adapter.predict_fn(job.background_matrix).mean()), abs=1e-12)


@pytest.mark.parametrize(
    "config",
    [
        Config(explainer="exact", background_size=30, rows=4),
        Config(explainer="permutation", background_size=30, rows=4, permutations=1),
        Config(explainer="permutation", background_size=10, rows=4, permutations=7),
    ],
    ids=["exact", "one-permutation", "seven-permutations"],
)
@pytest.mark.parametrize("name", ["titanic", "penguins", "boston"])
def test_every_explainer_a_budget_can_pick_is_additive(name, config, request):
    model = request.getfixturevalue(name)
    if config.explainer == "exact" and len(model.features) > 10:
        config = Config(explainer="permutation", background_size=30, rows=4, permutations=3)  # 2**13 is slow here
    job = job_for(model, background_size=config.background_size, rows=model.X.iloc[:4])
    run = job.run(config)
    assert run.additivity_max_error() < ADDITIVITY
    if model.problem_type == "multiclass":  # every class's values add up to that class's probability
        assert run.values.shape == (4, len(model.features), len(model.class_labels))
        np.testing.assert_allclose(run.base_values + run.values.sum(axis=1), run.outputs, atol=ADDITIVITY)


def test_permutation_values_depend_on_the_seed_and_the_row_not_on_threads(synthetic):
    rows = synthetic.X.iloc[:6]
    config = Config(explainer="permutation", background_size=20, rows=6, permutations=2)
    one = job_for(synthetic, background_size=20, rows=rows, seed=5).run(config, threads=1)
    two = job_for(synthetic, background_size=20, rows=rows, seed=5).run(config, threads=2)
    np.testing.assert_array_equal(one.values, two.values)
    other = job_for(synthetic, background_size=20, rows=rows, seed=6).run(config, threads=2)
    assert not np.array_equal(one.values, other.values)


def test_many_permutations_converge_to_the_exact_values(synthetic):
    job = job_for(synthetic, background_size=15, rows=synthetic.X.iloc[:2])
    exact = job.run(Config(explainer="exact", background_size=15, rows=2))
    sampled = job.run(Config(explainer="permutation", background_size=15, rows=2, permutations=300))
    np.testing.assert_allclose(sampled.values, exact.values, atol=0.01)


def test_a_run_starts_no_row_past_its_deadline_once_the_least_rows_are_done(synthetic):
    job = job_for(synthetic, background_size=20, rows=synthetic.X.iloc[:40])
    config = Config(explainer="exact", background_size=20, rows=40)
    seen = []
    outcome = explain_rows(
        job.adapter,
        job.background_matrix,
        job.matrix,
        explainer="exact",
        permutations=0,
        seed=0,
        threads=2,
        deadline=time.monotonic(),  # already past: only the least rows are explained
        min_rows=5,
        progress=lambda done, total, left: seen.append((done, total)),
    )
    assert 5 <= outcome.rows_done < config.rows and outcome.stopped_early
    assert outcome.values.shape == (outcome.rows_done, len(synthetic.features))
    assert seen[-1] == (outcome.rows_done, 40)


def test_a_failing_model_call_fails_the_run_on_every_thread(synthetic):
    job = job_for(synthetic, background_size=10, rows=synthetic.X.iloc[:6])

    def broken(matrix):
        raise RuntimeError("the model broke")

    job.adapter.predict_fn = broken
    with pytest.raises(RuntimeError, match="the model broke"):
        job.run(Config(explainer="exact", background_size=10, rows=6), threads=2)


def test_a_global_explanation_records_what_its_budget_chose(synthetic):
    started = GlobalShapJob.start(**synthetic.kwargs, data=synthetic.X, background_size=60, sample_size=120)
    cost = started.job.measure()
    requested = started.requested
    per_row = requested.seconds_per_row(cost, 4, 1.0)
    budget = per_row * 40  # room for about forty rows, not 120 rows of 60
    result = started.finish(budget_s=budget, threads=1)
    plan = result.plan
    assert plan["reductions"] and plan["estimated_s"] <= budget
    assert result.sample_size == plan["sample_size"] <= 120
    assert result.background_size == plan["background_size"] == len(result.background)
    assert set(result.standard_errors) == set(result.feature_importances)
    assert result.rank_stability["bootstrap_samples"] == 200
    assert result.additivity_max_error < ADDITIVITY
    data = result.as_dict()
    assert data["plan"]["reason"].startswith(("Exact", "Permutation")) and data["budget_s"] == budget


def test_a_whole_global_explanation_fits_its_budget_with_permutation_importance(synthetic):
    seen = []
    explained = engine.explain_global(
        **synthetic.kwargs,
        data=synthetic.X,
        holdout=synthetic.holdout,
        target=synthetic.target,
        budget_s=60,
        reserve_s=1.0,
        threads=2,
        progress=lambda fraction, left: seen.append(fraction),
    )
    record = explained.budget
    assert record["budget_s"] == 60 and record["shap"]["estimated_s"] <= 60
    assert set(record["seconds"]) == {"load", "compile", "prepare", "permutation_importance", "shap", "total"}
    assert explained.permutation is not None and explained.permutation.rows == len(synthetic.holdout)
    assert seen == sorted(seen) and seen[0] == 0.1 and seen[-1] == 0.9
    ranking = list(explained.shap.feature_importances)
    assert set(ranking[:2]) == {"signal", "color"}


def test_a_budget_nothing_fits_fails_before_any_work_naming_the_budget_needed(synthetic):
    with pytest.raises(BudgetTooSmall, match=r"needs a budget of about \d+ s .* given 0.01 s") as refused:
        engine.explain_global(
            **synthetic.kwargs,
            data=synthetic.X,
            holdout=synthetic.holdout,
            target=synthetic.target,
            budget_s=0.01,
            reserve_s=1.0,
        )
    assert refused.value.needed_s > 1.0


def test_a_local_explanation_in_a_small_budget_shrinks_its_background(boston):
    background = sample_background(boston.X, features=boston.features, size=100, seed=0)
    rows = boston.X.iloc[[0]]
    job, config, plan = engine.local_job(**boston.kwargs, rows=rows, background=background, budget_s=30)
    assert plan.reductions == [] and config.background_size == 100
    tight = plan.estimated_s / 4
    result = engine.shap_local(**boston.kwargs, rows=rows, background=background, budget_s=tight)
    assert result.background_size < 100 and result.plan["reductions"]
    assert result.plan["estimated_s"] <= tight and result.additivity_max_error < ADDITIVITY
    with pytest.raises(BudgetTooSmall, match="local explanation needs about"):
        engine.local_job(**boston.kwargs, rows=rows, background=background, budget_s=1e-6)


def test_the_adapter_copies_plain_numbers_and_looks_up_the_rest(titanic, boston):
    adapter = ModelAdapter(**boston.kwargs, reference=boston.X)
    adapter.prepare(adapter.encode(boston.X))
    identity = dict(zip(adapter.feature_names, adapter._cache.identity, strict=True))
    assert identity["lstat"] and identity["rm"]  # floats pass through AutoGluon unchanged
    assert not identity["chas"]  # a 0/1 column is an int8 flag to AutoGluon: looked up
    titanic_adapter = ModelAdapter(**titanic.kwargs, reference=titanic.X)
    titanic_adapter.prepare(titanic_adapter.encode(titanic.X))
    assert not any(dict(zip(titanic_adapter.feature_names, titanic_adapter._cache.identity, strict=True))[name]
                   for name in ("Sex", "PClass"))  # fmt: skip
