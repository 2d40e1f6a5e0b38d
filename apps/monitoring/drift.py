"""Drift statistics on scipy, with Evidently's default choice of test (``get_default_stattest``):

===================  ==========================================  ========================================
reference rows       numeric (more than 5 distinct values)       categorical, or numeric with <= 5 values
===================  ==========================================  ========================================
<= 1000              Kolmogorov–Smirnov, drift when p < 0.05     chi-squared (p < 0.05); Z-test for binary
> 1000               Wasserstein normalised by the reference's   Jensen–Shannon distance, drift when
                     standard deviation, drift when >= 0.1       >= 0.1
===================  ==========================================  ========================================

Distinct values are counted over reference and current together, as Evidently does. PSI is computed beside
every test (Sturges bins over both samples for numeric columns with more than 20 distinct values, categories
otherwise; an empty bin counts as 0.0001) and reported, never decisive. Missing values are left out of the
tests; their shares are reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

SMALL_REFERENCE_ROWS = 1000
P_VALUE_THRESHOLD = 0.05
DISTANCE_THRESHOLD = 0.1
NUMERIC, CATEGORICAL = "num", "cat"
EMPTY_BIN = 0.0001

KS, CHI2, Z, WASSERSTEIN, JENSEN_SHANNON = "ks", "chisquare", "z", "wasserstein", "jensenshannon"
TEST_NAMES = {
    KS: "Kolmogorov-Smirnov p-value",
    CHI2: "chi-squared p-value",
    Z: "Z-test p-value",
    WASSERSTEIN: "Wasserstein distance (normed)",
    JENSEN_SHANNON: "Jensen-Shannon distance",
}
P_VALUE_TESTS = {KS, CHI2, Z}


@dataclass
class ColumnDrift:
    """The verdict on one column: which test decided, its statistic (a p-value or a distance), the threshold,
    whether it drifted, and PSI beside it."""

    feature: str
    kind: str
    test: str
    test_name: str
    statistic: float
    threshold: float
    drifted: bool
    psi: float
    n_reference: int
    n_current: int
    n_unique: int
    reference_missing_share: float
    current_missing_share: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_test(*, kind: str, n_reference: int, n_unique: int) -> str:
    """Evidently's default test for a column of ``kind`` with ``n_unique`` distinct values (both samples)."""
    if n_reference <= SMALL_REFERENCE_ROWS:
        if kind == NUMERIC and n_unique > 5:
            return KS
        return CHI2 if n_unique > 2 else Z
    if kind == NUMERIC and n_unique > 5:
        return WASSERSTEIN
    return JENSEN_SHANNON


def ks_p_value(reference: pd.Series, current: pd.Series) -> float:
    from scipy import stats

    return float(stats.ks_2samp(reference, current).pvalue)


def _counts(reference: pd.Series, current: pd.Series) -> tuple[list[Any], np.ndarray, np.ndarray]:
    keys = sorted(set(reference.unique()) | set(current.unique()), key=str)
    ref = reference.value_counts()
    cur = current.value_counts()
    return keys, np.array([ref.get(k, 0) for k in keys], dtype=float), np.array([cur.get(k, 0) for k in keys], float)


def chi2_p_value(reference: pd.Series, current: pd.Series) -> float:
    """Chi-squared goodness of fit of the current counts to the reference frequencies scaled to the current size
    (Evidently's ``chi_stat_test``). A category the reference never had cannot be expected: p = 0."""
    from scipy import stats

    _, ref, cur = _counts(reference, current)
    expected = ref * (cur.sum() / ref.sum())
    if np.any((expected == 0) & (cur > 0)):
        return 0.0
    keep = expected > 0
    return float(stats.chisquare(cur[keep], expected[keep]).pvalue)


def z_p_value(reference: pd.Series, current: pd.Series) -> float:
    """Two-sided Z-test of the difference of the share of the first category (sorted) between the samples
    (Evidently's ``z_stat_test``)."""
    from scipy import stats

    keys = sorted(set(reference.unique()) | set(current.unique()), key=str)
    if len(keys) <= 1:
        return 1.0
    target = keys[0]
    n1, n2 = len(reference), len(current)
    p1 = float((reference == target).sum()) / n1
    p2 = float((current == target).sum()) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    spread = np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    if spread == 0:
        return 1.0
    z_stat = (p1 - p2) / spread
    return float(2 * (1 - stats.norm.cdf(abs(z_stat))))


def wasserstein_normed(reference: pd.Series, current: pd.Series) -> float:
    """Wasserstein distance divided by the reference's standard deviation (at least 0.001)."""
    from scipy import stats

    norm = max(float(np.std(reference)), 0.001)
    return float(stats.wasserstein_distance(reference, current) / norm)


def jensen_shannon(reference: pd.Series, current: pd.Series) -> float:
    """Jensen–Shannon distance (natural log) between the category frequencies of the samples."""
    from scipy.spatial import distance

    _, ref, cur = _counts(reference, current)
    return float(distance.jensenshannon(ref / ref.sum(), cur / cur.sum()))


def binned_shares(reference: pd.Series, current: pd.Series, *, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The shares of each sample per bin: Sturges bins over both samples for numeric columns with more than 20
    distinct values, one bin per category otherwise; an empty bin holds 0.0001."""
    if kind == NUMERIC and reference.nunique() > 20:
        both = np.concatenate([reference.to_numpy(dtype=float), current.to_numpy(dtype=float)])
        edges = np.histogram_bin_edges(both, bins="sturges")
        ref = np.histogram(reference.to_numpy(dtype=float), edges)[0] / len(reference)
        cur = np.histogram(current.to_numpy(dtype=float), edges)[0] / len(current)
    else:
        _, ref_counts, cur_counts = _counts(reference, current)
        ref, cur = ref_counts / len(reference), cur_counts / len(current)
    ref = np.where(ref == 0, EMPTY_BIN, ref)
    cur = np.where(cur == 0, EMPTY_BIN, cur)
    return ref, cur


def psi(reference: pd.Series, current: pd.Series, *, kind: str) -> float:
    """Population stability index: sum over bins of (reference - current) * ln(reference / current)."""
    ref, cur = binned_shares(reference, current, kind=kind)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


STATISTICS = {
    KS: ks_p_value,
    CHI2: chi2_p_value,
    Z: z_p_value,
    WASSERSTEIN: wasserstein_normed,
    JENSEN_SHANNON: jensen_shannon,
}


def _present(values: pd.Series, kind: str) -> pd.Series:
    values = values.dropna()
    if kind == NUMERIC:
        return pd.to_numeric(values, errors="coerce").dropna().astype(float)
    return values.astype(str)


def column_drift(
    *, feature: str, kind: str, reference: pd.Series, current: pd.Series, n_reference: int | None = None
) -> ColumnDrift | None:
    """The drift verdict of one column (None when either sample has no value to compare).

    ``n_reference`` is the size of the reference the test is chosen by (the stored sample's by default)."""
    ref_missing = float(reference.isna().mean()) if len(reference) else 0.0
    cur_missing = float(current.isna().mean()) if len(current) else 0.0
    ref, cur = _present(reference, kind), _present(current, kind)
    if ref.empty or cur.empty:
        return None
    n_unique = int(pd.concat([ref, cur]).nunique())
    test = choose_test(kind=kind, n_reference=n_reference or len(ref), n_unique=n_unique)
    statistic = STATISTICS[test](ref, cur)
    if test in P_VALUE_TESTS:
        threshold, drifted = P_VALUE_THRESHOLD, statistic < P_VALUE_THRESHOLD
    else:
        threshold, drifted = DISTANCE_THRESHOLD, statistic >= DISTANCE_THRESHOLD
    return ColumnDrift(
        feature=feature,
        kind=kind,
        test=test,
        test_name=TEST_NAMES[test],
        statistic=round(statistic, 6),
        threshold=threshold,
        drifted=bool(drifted),
        psi=round(psi(ref, cur, kind=kind), 6),
        n_reference=len(ref),
        n_current=len(cur),
        n_unique=n_unique,
        reference_missing_share=round(ref_missing, 6),
        current_missing_share=round(cur_missing, 6),
    )
