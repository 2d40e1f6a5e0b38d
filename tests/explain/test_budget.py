"""Budgets without a model: the cost model, the plan that fits, the budget a plan needs, and how precise an
importance is. Costs are given, not measured, so every number here is exact."""

from __future__ import annotations

import time

import numpy as np
import pytest

from apps.explain.engine import budget as b
from apps.explain.engine import precision
from apps.explain.engine.budget import BudgetTooSmall, Config, CostModel

COST = CostModel(call_s=0.005, row_s=1e-6, probe_rows=0, measured_s=0.0)


def estimate(config: Config, n_features: int, share: float = 1.0, threads: int = 1) -> float:
    return config.seconds_per_row(COST, n_features, share) * config.rows / b.speedup(threads)


def test_the_requested_explanation_runs_as_asked_when_it_fits():
    requested = b.requested_config(n_features=8, rows=300, background_size=100, max_evals=None)
    assert requested == Config(explainer="exact", background_size=100, rows=300)
    plan = b.plan_shap(requested=requested, n_features=8, budget_s=60, cost=COST, share=1.0)
    assert plan.config == requested and plan.reductions == []
    assert plan.estimated_s == pytest.approx(estimate(requested, 8))  # 300 × (5 ms + 25,600 rows × 1 µs + 2 ms)
    assert "Exact over 300 rows with a background of 100" in plan.describe()


def test_an_explanation_too_large_for_its_budget_shrinks_in_order_and_says_how():
    requested = b.requested_config(n_features=12, rows=300, background_size=100, max_evals=None)
    plan = b.plan_shap(requested=requested, n_features=12, budget_s=20, cost=COST, share=1.0)
    assert plan.estimated_s <= 20
    assert plan.reductions[:3] == [
        "background 100 → 50 rows",
        "explained rows 300 → 200",
        "Exact (4096 evaluations a row) → Permutation (500)",
    ]
    assert plan.config.explainer == "permutation" and plan.config.permutations == 20
    assert plan.as_dict()["reason"].endswith("; ".join(plan.reductions) + ".")
    assert plan.as_dict()["requested"]["explainer"] == "exact"


def test_threads_let_more_fit_in_the_same_budget():
    requested = b.requested_config(n_features=12, rows=300, background_size=100, max_evals=None)
    one = b.plan_shap(requested=requested, n_features=12, budget_s=60, cost=COST, share=1.0, threads=1)
    two = b.plan_shap(requested=requested, n_features=12, budget_s=60, cost=COST, share=1.0, threads=2)
    assert len(two.reductions) < len(one.reductions)
    assert two.threads == 2 and b.speedup(2) == pytest.approx(1.6)


def test_parameters_asked_for_explicitly_are_never_shrunk():
    requested = b.requested_config(n_features=12, rows=300, background_size=100, max_evals=None)
    plan = b.plan_shap(requested=requested, n_features=12, budget_s=20, cost=COST, share=1.0, fixed=["background_size"])
    assert plan.config.background_size == 100
    assert not any(step.startswith("background") for step in plan.reductions)
    with pytest.raises(BudgetTooSmall) as refused:
        b.plan_shap(
            requested=requested,
            n_features=12,
            budget_s=20,
            cost=COST,
            share=1.0,
            fixed=["background_size", "sample_size", "max_evals"],
        )
    assert refused.value.needed_s == pytest.approx(estimate(requested, 12), abs=0.1)
    assert "with background_size, max_evals, sample_size as given" in str(refused.value)


def test_a_budget_nothing_fits_names_the_budget_it_needs():
    requested = b.requested_config(n_features=40, rows=300, background_size=100, max_evals=None)
    smallest = Config(explainer="permutation", background_size=10, rows=30, permutations=1)
    with pytest.raises(BudgetTooSmall, match=r"needs about [\d.]+ s .* ask with a larger budget_s") as refused:
        b.plan_shap(requested=requested, n_features=40, budget_s=0.1, cost=COST, share=1.0)
    assert refused.value.needed_s == pytest.approx(estimate(smallest, 40), abs=0.1)
    assert refused.value.budget_s == 0.1
    assert b.least_seconds(requested=requested, n_features=40, cost=COST, share=1.0) == refused.value.needed_s


def test_a_local_explanation_keeps_every_row_it_was_asked():
    requested = b.requested_config(n_features=100, rows=3, background_size=100, max_evals=None)
    plan = b.plan_shap(requested=requested, n_features=100, budget_s=0.1, cost=COST, share=1.0, steps=b.LOCAL_STEPS)
    assert plan.config.rows == 3 and plan.estimated_s <= 0.1
    assert plan.config.background_size < 100 and plan.config.permutations < requested.permutations


def test_a_smaller_share_of_differing_background_values_costs_less():
    config = Config(explainer="exact", background_size=100, rows=1)
    assert config.model_rows(10, 0.25) == pytest.approx(100 * (1 + 1023 * 0.25))
    background = np.array([[0.0, 1.0], [0.0, 2.0]])
    assert b.varying_share(background, np.array([[0.0, 1.0]])) == pytest.approx(0.25)
    assert b.varying_share(background, np.array([[5.0, 5.0]])) == 1.0
    nan = np.array([[np.nan, 1.0]])
    assert b.varying_share(nan, nan) == pytest.approx(0.5)  # NaN never equals NaN in shap's masker either


def test_permutations_count_whole_antithetic_permutations():
    assert b.permutations_for(13, None) == 18  # 500 // 27
    assert b.permutations_for(30, None) == 10  # at least ten
    assert b.permutations_for(4, 10) == 1
    with pytest.raises(ValueError, match="at least 11"):
        b.permutations_for(5, 10)


def test_the_cost_of_a_call_and_of_a_row_are_measured_apart():
    def predict(matrix: np.ndarray) -> np.ndarray:
        time.sleep(0.02 + 2e-6 * len(matrix))
        return matrix[:, 0]

    rng = np.random.default_rng(0)
    cost = b.measure_cost(predict, rng.random((50, 3)), rng.random((10, 3)), large=20_000)
    assert cost.call_s == pytest.approx(0.02, abs=0.01)
    assert cost.row_s == pytest.approx(2e-6, rel=0.5)
    assert CostModel.from_dict(cost.as_dict()).row_s == pytest.approx(cost.row_s, rel=1e-3)


def test_permutation_importance_is_sized_to_its_share():
    fits = b.plan_permutation_importance(
        cost=COST, n_features=10, holdout_rows=300, shuffles=5, subsample=5000, budget_s=12
    )
    assert (fits.subsample_size, fits.num_shuffle_sets, fits.reductions) == (300, 5, ())
    tight = b.plan_permutation_importance(
        cost=COST, n_features=50, holdout_rows=20_000, shuffles=5, subsample=5000, budget_s=0.1
    )
    assert tight.reductions[:2] == ("held-out rows 5000 → 1000", "held-out rows 1000 → 500")
    assert tight.subsample_size == 500 and tight.num_shuffle_sets < 5 and tight.time_limit == 0.1


# ---------------------------------------------------------------------------
# Precision
# ---------------------------------------------------------------------------
def test_standard_errors_are_the_spread_of_the_rows_over_their_count():
    values = np.array([[1.0, -2.0], [3.0, 2.0], [2.0, -2.0], [2.0, 2.0]])
    contributions = precision.row_contributions(values)
    np.testing.assert_allclose(contributions.mean(axis=0), [2.0, 2.0])
    np.testing.assert_allclose(precision.standard_errors(contributions), [np.sqrt(2 / 3) / 2, 0.0])
    multiclass = np.stack([values, -values], axis=2)  # (n, F, K): importance sums |SHAP| over classes
    np.testing.assert_allclose(precision.row_contributions(multiclass).mean(axis=0), [4.0, 4.0])
    assert precision.standard_errors(contributions[:1]).tolist() == [0.0, 0.0]


def test_a_clear_ranking_is_stable_and_a_tie_is_not():
    rng = np.random.default_rng(0)
    clear = np.column_stack([rng.normal(10, 1, 200), rng.normal(5, 1, 200), rng.normal(1, 0.5, 200)])
    stable = precision.rank_stability(np.abs(clear), ["a", "b", "c"], top_k=3)
    assert stable["top_order_stable"] and stable["same_top_order_share"] == 1.0
    assert stable["features"]["a"] == {"rank": 1, "rank_interval": [1, 1], "same_rank_share": 1.0, "rank_stable": True}
    tie = np.abs(rng.normal(5, 2, (50, 2)))
    shaky = precision.rank_stability(tie, ["x", "y"], top_k=2)
    assert not shaky["top_order_stable"] and 0.05 < shaky["same_top_order_share"] < 0.95
    assert shaky["features"]["x"]["rank_interval"] == [1, 2]


def test_kendall_tau_of_rankings():
    assert precision.kendall_tau(["a", "b", "c", "d"], ["a", "b", "c", "d"]) == pytest.approx(1.0)
    assert precision.kendall_tau(["a", "b", "c", "d"], ["d", "c", "b", "a"]) == pytest.approx(-1.0)
    assert precision.kendall_tau(["a", "b", "c", "d"], ["b", "a", "c", "d"]) == pytest.approx(2 / 3)
