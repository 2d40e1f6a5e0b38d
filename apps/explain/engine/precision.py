"""How precise a global importance is: its standard error across the explained rows, and whether the order of the
top features holds when the explained rows are drawn again (a seeded bootstrap)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

BOOTSTRAP_SAMPLES = 200
TOP_K = 5
STABLE_SHARE = 0.9  # a rank held in at least this share of the bootstrap samples is called stable


def row_contributions(values: np.ndarray) -> np.ndarray:
    """Per explained row and feature what the global importance averages: |SHAP| (n, F), or for multiclass the
    sum over classes of |SHAP| (values of shape (n, F, K)), so the mean over rows is the importance."""
    magnitudes = np.abs(np.asarray(values, dtype="float64"))
    return magnitudes.sum(axis=2) if magnitudes.ndim == 3 else magnitudes


def standard_errors(contributions: np.ndarray) -> np.ndarray:
    """The standard error of each feature's mean contribution over the rows (0 with a single row)."""
    rows = len(contributions)
    if rows < 2:
        return np.zeros(contributions.shape[1])
    return contributions.std(axis=0, ddof=1) / np.sqrt(rows)


def _order(importances: np.ndarray) -> np.ndarray:
    """Feature indexes by decreasing importance, ties by index (as the result ranks them)."""
    return np.lexsort((np.arange(len(importances)), -importances))


def rank_stability(
    contributions: np.ndarray,
    names: Sequence[str],
    *,
    seed: int = 0,
    samples: int = BOOTSTRAP_SAMPLES,
    top_k: int = TOP_K,
) -> dict[str, Any]:
    """Bootstrap the explained rows ``samples`` times (seeded) and see how the ranking moves.

    Answers the share of samples with the same top-``top_k`` order, whether that order is stable, and per top
    feature its rank, the 5th-95th percentile of its ranks and the share of samples in which it kept its rank."""
    rows, n_features = contributions.shape
    top_k = max(1, min(top_k, n_features))
    importances = contributions.mean(axis=0)
    order = _order(importances)
    if rows < 2:
        return {
            "bootstrap_samples": 0,
            "top_k": top_k,
            "same_top_order_share": None,
            "top_order_stable": False,
            "features": {},
        }
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, rows, size=(samples, rows))
    ranks = np.empty((samples, n_features), dtype="int64")
    same_top = 0
    for i, draw in enumerate(draws):
        sample_order = _order(contributions[draw].mean(axis=0))
        ranks[i, sample_order] = np.arange(1, n_features + 1)
        same_top += bool(np.array_equal(sample_order[:top_k], order[:top_k]))
    features = {}
    for position, j in enumerate(order[:top_k], start=1):
        kept = float((ranks[:, j] == position).mean())
        low, high = np.percentile(ranks[:, j], [5, 95])
        features[str(names[j])] = {
            "rank": position,
            "rank_interval": [int(round(low)), int(round(high))],
            "same_rank_share": round(kept, 4),
            "rank_stable": kept >= STABLE_SHARE,
        }
    share = same_top / samples
    return {
        "bootstrap_samples": samples,
        "top_k": top_k,
        "same_top_order_share": round(share, 4),
        "top_order_stable": share >= STABLE_SHARE,
        "features": features,
    }


def kendall_tau(first: Sequence[str], second: Sequence[str]) -> float:
    """Kendall's τ-b between two rankings of the same features (names, most important first)."""
    from scipy.stats import kendalltau

    position = {name: i for i, name in enumerate(second)}
    common = [name for name in first if name in position]
    if len(common) < 2:
        return 1.0
    tau = kendalltau(range(len(common)), [position[name] for name in common]).statistic
    return float(tau)
