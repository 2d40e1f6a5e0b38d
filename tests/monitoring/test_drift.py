"""The drift statistics against scipy and by hand, Evidently's choice of test, and synthetic streams."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from apps.monitoring import drift, profile
from apps.monitoring.models import ReferenceProfile
from apps.monitoring.services import drift_evaluate

FEATURES = [
    {"name": "income", "dtype": "float"},
    {"name": "age", "dtype": "int"},
    {"name": "color", "dtype": "object"},
    {"name": "member", "dtype": "object"},
]


def stream(n: int, *, seed: int, shift: bool = False) -> pd.DataFrame:
    """Two numeric features, a three-category and a binary one; ``shift`` moves ``income`` by one standard
    deviation and gives a third of the rows a colour the reference never had."""
    rng = np.random.default_rng(seed)
    colors = rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2]).astype(object)
    income = rng.normal(50.0, 10.0, n)
    if shift:
        income = income + 10.0
        colors[rng.random(n) < 0.33] = "purple"
    return pd.DataFrame(
        {
            "income": income,
            "age": rng.integers(18, 80, n),
            "color": colors,
            "member": rng.choice(["yes", "no"], size=n, p=[0.4, 0.6]),
        }
    )


def reference_of(frame: pd.DataFrame) -> ReferenceProfile:
    profiles, samples = profile.frame_profile(frame, FEATURES, sample_limit=5000)
    return ReferenceProfile(features=profiles, samples=samples, n_rows=len(frame))


@pytest.mark.parametrize(
    ("n_reference", "numeric_test", "categorical_test", "binary_test"),
    [(600, drift.KS, drift.CHI2, drift.Z), (3000, drift.WASSERSTEIN, drift.JENSEN_SHANNON, drift.JENSEN_SHANNON)],
)
def test_a_stream_like_the_reference_is_not_flagged_and_a_shifted_one_names_exactly_its_drifted_features(
    n_reference, numeric_test, categorical_test, binary_test
):
    reference = reference_of(stream(n_reference, seed=1))

    def evaluate(current):
        typed = profile.typed_frame(current, FEATURES)
        return drift_evaluate(reference=reference, features=FEATURES, current=typed, share_threshold=0.5)

    calm = evaluate(stream(500, seed=2))
    tests = {result["feature"]: result["test"] for result in calm["features"]}
    assert tests == {"income": numeric_test, "age": numeric_test, "color": categorical_test, "member": binary_test}
    assert calm["n_drifted"] == 0 and not calm["flagged"], calm["features"]

    shifted = evaluate(stream(500, seed=3, shift=True))
    drifted = {result["feature"] for result in shifted["features"] if result["drifted"]}
    assert drifted == {"income", "color"}
    assert shifted["flagged"] and shifted["drift_share"] == 0.5
    for result in shifted["features"]:  # each verdict says which test and threshold decided it
        assert result["threshold"] == (0.05 if result["test"] in drift.P_VALUE_TESTS else 0.1)
        assert result["psi"] >= 0


def test_the_flag_follows_the_configured_share():
    reference = reference_of(stream(600, seed=1))
    current = profile.typed_frame(stream(300, seed=3, shift=True), FEATURES)
    assert not drift_evaluate(reference=reference, features=FEATURES, current=current, share_threshold=0.75)["flagged"]
    assert drift_evaluate(reference=reference, features=FEATURES, current=current, share_threshold=0.25)["flagged"]


def test_choice_of_test_follows_evidently_defaults():
    assert drift.choose_test(kind="num", n_reference=1000, n_unique=6) == drift.KS
    assert drift.choose_test(kind="num", n_reference=1000, n_unique=5) == drift.CHI2
    assert drift.choose_test(kind="num", n_reference=1000, n_unique=2) == drift.Z
    assert drift.choose_test(kind="cat", n_reference=1000, n_unique=3) == drift.CHI2
    assert drift.choose_test(kind="cat", n_reference=1000, n_unique=2) == drift.Z
    assert drift.choose_test(kind="num", n_reference=1001, n_unique=6) == drift.WASSERSTEIN
    assert drift.choose_test(kind="num", n_reference=1001, n_unique=4) == drift.JENSEN_SHANNON
    assert drift.choose_test(kind="cat", n_reference=1001, n_unique=40) == drift.JENSEN_SHANNON


def test_statistics_match_scipy_on_known_inputs():
    rng = np.random.default_rng(7)
    a, b = pd.Series(rng.normal(0, 1, 200)), pd.Series(rng.normal(0.3, 1.2, 150))
    assert drift.ks_p_value(a, b) == pytest.approx(stats.ks_2samp(a, b).pvalue)
    assert drift.wasserstein_normed(a, b) == pytest.approx(stats.wasserstein_distance(a, b) / np.std(a))

    ref = pd.Series(["x"] * 50 + ["y"] * 30 + ["z"] * 20)
    cur = pd.Series(["x"] * 40 + ["y"] * 40 + ["z"] * 20)
    expected = np.array([50, 30, 20]) * (100 / 100)
    assert drift.chi2_p_value(ref, cur) == pytest.approx(stats.chisquare([40, 40, 20], expected).pvalue)
    assert drift.jensen_shannon(ref, cur) == pytest.approx(distance.jensenshannon([0.5, 0.3, 0.2], [0.4, 0.4, 0.2]))
    assert drift.chi2_p_value(ref, pd.Series(["x", "new"])) == 0.0  # a category the reference never had

    # Z-test of the share of the first category: 0.5 of 100 against 0.4 of 100, pooled 0.45.
    z = (0.5 - 0.4) / np.sqrt(0.45 * 0.55 * (1 / 100 + 1 / 100))
    two = pd.Series(["a"] * 50 + ["b"] * 50), pd.Series(["a"] * 40 + ["b"] * 60)
    assert drift.z_p_value(*two) == pytest.approx(2 * (1 - stats.norm.cdf(z)))


def test_psi_by_hand():
    ref = pd.Series(["a"] * 50 + ["b"] * 50)
    cur = pd.Series(["a"] * 80 + ["b"] * 20)
    by_hand = (0.5 - 0.8) * np.log(0.5 / 0.8) + (0.5 - 0.2) * np.log(0.5 / 0.2)
    assert drift.psi(ref, cur, kind="cat") == pytest.approx(by_hand)
    assert drift.psi(ref, ref, kind="cat") == 0.0
    # An empty bin counts as 0.0001.
    only_a = pd.Series(["a"] * 10)
    assert drift.psi(ref, only_a, kind="cat") == pytest.approx(
        (0.5 - 1.0) * np.log(0.5 / 1.0) + (0.5 - 0.0001) * np.log(0.5 / 0.0001)
    )
    numbers = pd.Series(np.arange(100, dtype=float))
    edges = np.histogram_bin_edges(np.concatenate([numbers, numbers + 50]), bins="sturges")
    r = np.histogram(numbers, edges)[0] / 100
    c = np.histogram(numbers + 50, edges)[0] / 100
    r, c = np.where(r == 0, 0.0001, r), np.where(c == 0, 0.0001, c)
    assert drift.psi(numbers, numbers + 50, kind="num") == pytest.approx(np.sum((r - c) * np.log(r / c)))


def test_missing_values_are_left_out_of_the_tests_and_reported():
    ref = pd.Series([1.0, 2.0, None, 4.0, 5.0, 6.0, 7.0, None])
    cur = pd.Series([1.0, None, None, None])
    result = drift.column_drift(feature="f", kind="num", reference=ref, current=cur)
    assert result.n_reference == 6 and result.n_current == 1
    assert result.reference_missing_share == 0.25 and result.current_missing_share == 0.75
    assert drift.column_drift(feature="f", kind="num", reference=ref, current=pd.Series([None])) is None
