"""The explanation engine on real (tiny) AutoGluon models: encoding, SHAP additivity on both explainers,
rankings on data whose truth is known, permutation importance, LIME reproducibility, JSON-ready results."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from apps.explain import engine
from apps.explain.engine import (
    EXACT,
    PERMUTATION,
    FeatureCodec,
    ModelAdapter,
    choose_explainer,
    lime_local,
    permutation_importance,
    sample_background,
    shap_global,
    shap_local,
)

pytestmark = pytest.mark.slow

ADDITIVITY = 1e-6


def assert_additive(result) -> None:
    for base, values, output in zip(result.base_values, result.values, result.outputs, strict=True):
        assert base + sum(values) == pytest.approx(output, rel=ADDITIVITY, abs=ADDITIVITY)
    assert result.additivity_max_error < ADDITIVITY


def assert_json_ready(result) -> dict:
    data = result.as_dict()
    json.dumps(data, allow_nan=False)  # raises on NaN / numpy types
    return data


def model_proba(model, rows: pd.DataFrame) -> pd.DataFrame:
    return model.predictor.predict_proba(rows[[feature["name"] for feature in model.features]])


# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------
def test_codec_round_trips_categoricals_bools_datetimes_and_nans():
    colors = FeatureCodec(name="color", dtype="object", kind="categorical")
    colors.learn(pd.Series(["red", "blue", None, "red"]))
    assert colors.categories == ["blue", "red"]
    colors.learn(pd.Series(["green", "blue"]))  # extends; codes given before never move
    assert colors.categories == ["blue", "red", "green"]
    encoded = colors.encode(pd.Series(["red", np.nan, "green", "purple"]))
    np.testing.assert_array_equal(encoded, [1.0, np.nan, 2.0, np.nan])
    decoded = colors.decode(np.array([1.0, np.nan, 2.0, 7.0, -1.0]))
    assert list(decoded[:1]) + list(decoded[2:3]) == ["red", "green"]
    assert all(pd.isna(decoded[i]) for i in (1, 3, 4))  # NaN and unknown codes are missing values

    flags = FeatureCodec(name="flag", dtype="bool", kind="categorical")
    flags.learn(pd.Series([True, False]))
    assert flags.decode(flags.encode(pd.Series([True, False]))).dtype == bool
    assert list(flags.decode(np.array([1.0, np.nan]))[:1]) == [True]

    when = FeatureCodec(name="when", dtype="datetime64[ns]", kind="datetime")
    stamps = pd.Series(pd.to_datetime(["2024-01-02 03:04:05", None, "1999-12-31 00:00:00"]))
    back = pd.Series(when.decode(when.encode(stamps)))
    assert back[0] == stamps[0] and back[2] == stamps[2] and pd.isna(back[1])

    count = FeatureCodec(name="n", dtype="int64", kind="numeric")
    assert count.decode(count.encode(pd.Series([1, 2, 3]))).dtype == np.int64
    assert count.decode(np.array([1.0, np.nan])).dtype == np.float64


def test_feature_kinds_cover_pandas_and_autogluon_names():
    assert [engine.feature_kind(name) for name in ("float64", "int", "uint8", "float")] == ["numeric"] * 4
    assert [engine.feature_kind(name) for name in ("object", "category", "bool", "string", "")] == ["categorical"] * 5
    assert engine.feature_kind("datetime64[ns]") == engine.feature_kind("datetime") == "datetime"


def test_adapter_encodes_and_decodes_user_rows(titanic):
    adapter = ModelAdapter(**titanic.kwargs, reference=titanic.X)
    rows = titanic.X.iloc[:20].copy()
    rows.loc[rows.index[0], "Age"] = np.nan
    rows.loc[rows.index[1], "Sex"] = np.nan
    matrix = adapter.encode(rows)
    assert matrix.dtype == np.float64 and matrix.shape == (20, 4)
    assert adapter.categorical_indices == [0, 1, 3]  # Name, PClass, Sex
    decoded = adapter.decode(matrix)
    assert list(decoded.columns) == adapter.feature_names
    for name in adapter.feature_names:
        original, back = rows[name].tolist(), decoded[name].tolist()
        assert [None if pd.isna(v) else v for v in original] == [None if pd.isna(v) else v for v in back]
    # the decoded rows are what the model would see from the user's rows
    np.testing.assert_allclose(adapter.predict_all(matrix), model_proba(titanic, rows).to_numpy(), atol=1e-12)


def test_schema_problems_are_reported(titanic):
    with pytest.raises(ValueError, match="lacks the features 'Sex'"):
        engine.feature_frame(titanic.X.drop(columns=["Sex"]), titanic.features)
    with pytest.raises(ValueError, match="regression"):
        ModelAdapter(**{**titanic.kwargs, "problem_type": "regression"})
    with pytest.raises(ValueError, match="class"):
        ModelAdapter(**{**titanic.kwargs, "class_labels": [0, 2]})
    with pytest.raises(ValueError, match="problem_type"):
        ModelAdapter(**{**titanic.kwargs, "problem_type": "quantile"})


@pytest.mark.parametrize("name", ["titanic", "penguins", "boston", "mixed"])
def test_cached_transforms_predict_exactly_what_autogluon_does(name, request):
    """The per-column transform cache is an optimisation only: it must answer AutoGluon's own predictions."""
    model = request.getfixturevalue(name)
    adapter = ModelAdapter(**model.kwargs, reference=model.X)
    matrix = adapter.encode(model.X)
    assert adapter.prepare(matrix) is True and adapter.fast_transform
    rng = np.random.default_rng(3)
    left, right = matrix[rng.integers(0, len(matrix), 200)], matrix[rng.integers(0, len(matrix), 200)]
    mixed = np.where(rng.random(left.shape) < 0.5, left, right)
    mixed[rng.random(mixed.shape) < 0.05] = np.nan  # missing values anywhere
    mixed[:5, 0] += 0.37  # and values never seen (numbers) or unknown codes (categoricals)
    fast = adapter.predict_all(mixed)
    plain = ModelAdapter(**model.kwargs, reference=model.X, fast_transform=False)
    np.testing.assert_allclose(fast, plain.predict_all(mixed), rtol=1e-9, atol=1e-12)
    assert plain.fast_transform is False


def test_predict_fn_makes_one_model_call_per_batch(titanic):
    adapter = ModelAdapter(**titanic.kwargs, reference=titanic.X)
    matrix = adapter.encode(titanic.X)
    calls = adapter.stats["model_calls"]
    out = adapter.predict_fn(matrix)
    assert out.shape == (len(matrix),) and adapter.stats["model_calls"] == calls + 1
    assert adapter.positive_class == 1 and adapter.output_name == "P(Survived=1)"


def test_choose_explainer():
    assert choose_explainer(4) == (EXACT, 16)
    assert choose_explainer(12) == (EXACT, 4096)
    # whole antithetic permutations of 2F+1 evaluations in max(500, 10 × (2F+1)): 18 × 27 for 13 features
    assert choose_explainer(13) == (PERMUTATION, 486)
    assert choose_explainer(30) == (PERMUTATION, 610)  # at least ten antithetic permutations
    assert choose_explainer(4, exact_max_features=3) == (PERMUTATION, 495)
    assert choose_explainer(4, max_evals=10) == (PERMUTATION, 9)  # a budget below 2**F means Permutation
    with pytest.raises(ValueError, match="too low"):
        choose_explainer(5, max_evals=10)


# ---------------------------------------------------------------------------
# Local SHAP: additivity on both explainers, every problem type
# ---------------------------------------------------------------------------
def test_local_shap_binary_exact_is_additive_and_explains_the_positive_class(titanic):
    background = sample_background(titanic.X, features=titanic.features, size=50, seed=0)
    rows = titanic.X.iloc[[0, 1, 2]]
    result = shap_local(**titanic.kwargs, rows=rows, background=background)
    assert result.explainer == EXACT and result.max_evals == 16 and result.background_size == 50
    assert result.fast_transform and result.seed == 0
    assert_additive(result)
    np.testing.assert_allclose(result.outputs, model_proba(titanic, rows)[1].to_numpy(), atol=1e-12)
    assert result.explained_classes == [1, 1, 1] and result.output_names == ["P(Survived=1)"] * 3
    assert result.base_value is not None and len(result.values[0]) == 4
    assert result.predictions == titanic.predictor.predict(rows).tolist()
    # batch-efficient: a handful of model calls for 3 rows × 16 masks × 50 background rows
    assert result.stats["model_calls"] <= 12 and result.stats["transform_calls"] == 1
    data = assert_json_ready(result)
    assert data["explainer"] == "exact" and data["rows"][0]["feature_values"] == rows.iloc[0].tolist()


def test_local_shap_binary_permutation_is_additive_and_seeded(titanic):
    background = sample_background(titanic.X, features=titanic.features, size=40, seed=1)
    rows = titanic.X.iloc[[5, 6]]
    first = shap_local(**titanic.kwargs, rows=rows, background=background, seed=7, exact_max_features=2)
    assert first.explainer == PERMUTATION and first.max_evals == 495  # 55 permutations of 9 evaluations
    assert_additive(first)
    state = np.random.get_state()[1].copy()
    again = shap_local(**titanic.kwargs, rows=rows, background=background, seed=7, exact_max_features=2)
    assert again.values == first.values  # same seed, same permutations
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # the caller's global RNG is left alone


def test_local_shap_multiclass_exact_explains_the_predicted_class(penguins):
    background = sample_background(penguins.X, features=penguins.features, size=40, seed=0)
    rows = penguins.X.iloc[[0, 150, 300]]
    result = shap_local(**penguins.kwargs, rows=rows, background=background)
    assert result.explainer == EXACT and result.max_evals == 2**7
    assert_additive(result)
    predicted = penguins.predictor.predict(rows).tolist()
    assert result.explained_classes == predicted == result.predictions
    proba = model_proba(penguins, rows)
    expected = [proba.iloc[i][label] for i, label in enumerate(predicted)]
    np.testing.assert_allclose(result.outputs, expected, atol=1e-12)
    assert result.output_names == [f"P(species={label})" for label in predicted]
    assert set(result.probabilities[0]) == {str(label) for label in penguins.class_labels}
    assert result.base_value is None or len(set(predicted)) == 1  # base values differ per explained class
    assert_json_ready(result)


def test_local_shap_multiclass_permutation_is_additive(penguins):
    background = sample_background(penguins.X, features=penguins.features, size=30, seed=0)
    result = shap_local(
        **penguins.kwargs, rows=penguins.X.iloc[[10, 200]], background=background, exact_max_features=3, max_evals=150
    )
    assert result.explainer == PERMUTATION and result.max_evals == 150
    assert_additive(result)


def test_local_shap_regression_permutation_is_additive(boston):
    background = sample_background(boston.X, features=boston.features, size=40, seed=0)
    rows = boston.X.iloc[[0, 100]]
    result = shap_local(**boston.kwargs, rows=rows, background=background)
    assert result.explainer == PERMUTATION  # 13 features > 12
    assert result.max_evals == 486 and result.output_name == "medv" and result.explained_classes is None
    assert_additive(result)
    np.testing.assert_allclose(result.outputs, boston.predictor.predict(rows).to_numpy(), rtol=1e-12)
    assert_json_ready(result)


def test_local_shap_regression_exact_is_additive(boston):
    background = sample_background(boston.X, features=boston.features, size=8, seed=0)
    result = shap_local(**boston.kwargs, rows=boston.X.iloc[[3]], background=background, exact_max_features=13)
    assert result.explainer == EXACT and result.max_evals == 2**13
    assert_additive(result)


def test_missing_values_and_unseen_categories(titanic, penguins):
    rows = titanic.X.iloc[[0, 1, 2, 3]].copy()
    rows.loc[rows.index[0], "Age"] = np.nan
    rows.loc[rows.index[1], "Sex"] = np.nan
    rows.loc[rows.index[2], "PClass"] = "4th"  # a category never seen in training
    rows.loc[rows.index[3], ["Age", "PClass", "Sex"]] = [np.nan, None, None]
    background = titanic.X.iloc[100:140]
    assert background["Age"].isna().any()  # NaNs in the background too
    result = shap_local(**titanic.kwargs, rows=rows, background=background)
    assert_additive(result)
    np.testing.assert_allclose(result.outputs, model_proba(titanic, rows)[1].to_numpy(), atol=1e-12)
    assert result.categories["PClass"][-1] == "4th"
    data = assert_json_ready(result)
    assert data["rows"][3]["feature_values"][1:] == [None, None, None]

    prows = penguins.X[penguins.X.isna().any(axis=1)].head(3)
    presult = shap_local(**penguins.kwargs, rows=prows, background=penguins.X.iloc[:30])
    assert_additive(presult)


def test_datetime_bool_and_category_columns(mixed):
    assert [f["dtype"] for f in mixed.features] == ["datetime64[ns]", "bool", "category", "int64"]
    rows = mixed.X.iloc[[0, 1, 2]].copy()
    rows["grade"] = rows["grade"].astype(object)
    rows.loc[rows.index[0], "grade"] = None  # missing in a category column
    rows.loc[rows.index[1], "when"] = pd.NaT
    result = shap_local(**mixed.kwargs, rows=rows, background=mixed.X.iloc[50:90])
    assert result.explainer == EXACT and result.fast_transform
    assert_additive(result)
    np.testing.assert_allclose(result.outputs, mixed.predictor.predict(rows).to_numpy(), rtol=1e-9)
    data = assert_json_ready(result)
    assert data["rows"][0]["feature_values"][2] is None and data["rows"][1]["feature_values"][0] is None
    assert data["rows"][2]["feature_values"][0].startswith("20")  # a timestamp as an ISO string
    lime = lime_local(**mixed.kwargs, rows=rows.iloc[[2]], training_data=mixed.data, num_samples=300)
    assert len(lime.rows[0].feature_weights) == 4
    ranking = shap_global(**mixed.kwargs, data=mixed.data, background_size=30, sample_size=40).feature_importances
    assert list(ranking)[0] in {"count", "grade"} and list(ranking)[-1] == "when"


# ---------------------------------------------------------------------------
# Global SHAP
# ---------------------------------------------------------------------------
def test_global_shap_ranks_signal_above_noise(synthetic):
    result = shap_global(**synthetic.kwargs, data=synthetic.data, background_size=50, sample_size=120, seed=0)
    ranking = list(result.feature_importances)
    assert set(ranking[:2]) == {"signal", "color"}, result.feature_importances
    assert min(result.feature_importances[n] for n in ("signal", "color")) > 3 * max(
        result.feature_importances[n] for n in ("noise1", "noise2")
    )
    assert list(result.feature_importances.values()) == sorted(result.feature_importances.values(), reverse=True)
    assert result.explainer == EXACT and result.background_size == 50 and result.sample_size == 120
    assert result.shap_values.shape == (120, 4) and result.encoded.shape == (120, 4)
    assert result.output_name == "P(target=1)" and result.importance_aggregation == "mean |SHAP|"
    assert len(result.background) == 50 and list(result.background.columns) == result.feature_names
    assert result.additivity_max_error < ADDITIVITY
    np.testing.assert_allclose(
        result.base_values + result.shap_values.sum(axis=1), result.outputs, rtol=ADDITIVITY, atol=ADDITIVITY
    )
    data = assert_json_ready(result)
    assert data["feature_importances"] == result.feature_importances and len(data["rows"]) == 120
    assert data["background_size"] == 50 and data["max_evals"] == 16 and data["seed"] == 0


def test_global_shap_is_reproducible_with_its_seed(synthetic):
    kwargs = {**synthetic.kwargs, "data": synthetic.data, "background_size": 30, "sample_size": 30, "max_evals": 45}
    kwargs["exact_max_features"] = 1
    first = shap_global(**kwargs, seed=5)
    assert first.explainer == PERMUTATION and first.max_evals == 45
    assert first.additivity_max_error < ADDITIVITY
    again = shap_global(**kwargs, seed=5)
    np.testing.assert_array_equal(first.shap_values, again.shap_values)
    assert first.background.index.tolist() == again.background.index.tolist()
    assert first.data.index.tolist() == again.data.index.tolist()
    other = shap_global(**kwargs, seed=6)
    assert other.background.index.tolist() != first.background.index.tolist()


def test_global_shap_multiclass_sums_class_importances(penguins):
    result = shap_global(**penguins.kwargs, data=penguins.data, background_size=25, sample_size=40, seed=0)
    assert result.explainer == EXACT and result.importance_aggregation.startswith("sum over classes")
    assert set(result.class_importances) == {str(label) for label in penguins.class_labels}
    for name, total in result.feature_importances.items():
        assert total == pytest.approx(sum(per_class[name] for per_class in result.class_importances.values()))
    assert result.explained_classes == result.predictions
    assert result.additivity_max_error < ADDITIVITY
    np.testing.assert_allclose(
        result.base_values + result.shap_values.sum(axis=1), result.outputs, rtol=ADDITIVITY, atol=ADDITIVITY
    )
    # bill and flipper measurements separate the species far better than the year
    assert list(result.feature_importances)[-1] in {"year", "sex"}
    assert_json_ready(result)


def test_global_shap_regression_with_a_given_background(boston):
    background = sample_background(boston.X, features=boston.features, size=20, seed=2)
    result = shap_global(**boston.kwargs, data=boston.X, background=background, sample_size=15, max_evals=60)
    assert result.explainer == PERMUTATION and result.max_evals == 54 and result.background_size == 20
    assert result.base_value == pytest.approx(float(boston.predictor.predict(background).mean()), rel=1e-6)
    assert result.additivity_max_error < ADDITIVITY
    assert set(list(result.feature_importances)[:3]) & {"lstat", "rm"}


# ---------------------------------------------------------------------------
# Permutation importance
# ---------------------------------------------------------------------------
def test_permutation_importance_ranks_signal_above_noise(synthetic):
    result = permutation_importance(
        predictor=synthetic.predictor, holdout=synthetic.holdout, target="target", seed=0, num_shuffle_sets=5
    )
    importances = result.importances
    assert set(importances) == {"signal", "color", "noise1", "noise2"}
    for name in ("signal", "color"):
        assert importances[name]["importance"] > max(importances[n]["importance"] for n in ("noise1", "noise2"))
        assert importances[name]["p_value"] < 0.01
    for values in importances.values():
        assert set(values) == {"importance", "stddev", "p_value", "n", "p99_low", "p99_high"}
        assert values["n"] == 5 and isinstance(values["n"], int)
        assert values["p99_low"] <= values["importance"] <= values["p99_high"]
    assert result.eval_metric == "accuracy" and result.rows == 300 and result.seed == 0
    data = assert_json_ready(result)
    assert data["importances"] == importances
    again = permutation_importance(
        predictor=synthetic.predictor, holdout=synthetic.holdout, target="target", seed=0, num_shuffle_sets=5
    )
    assert again.importances == importances  # the same seed gives the same shuffles


def test_permutation_importance_single_shuffle_gives_none_not_nan(synthetic):
    result = permutation_importance(
        predictor=synthetic.predictor,
        holdout=synthetic.holdout,
        target="target",
        features=synthetic.features,
        num_shuffle_sets=1,
        subsample_size=100,
    )
    values = result.importances["signal"]
    assert values["stddev"] is None and values["p99_low"] is None and values["n"] == 1
    assert result.rows == 100
    assert_json_ready(result)
    with pytest.raises(ValueError, match="target column"):
        permutation_importance(predictor=synthetic.predictor, holdout=synthetic.X, target="target")


# ---------------------------------------------------------------------------
# LIME
# ---------------------------------------------------------------------------
def test_lime_explains_the_requested_row_reproducibly(titanic):
    rows = titanic.X.iloc[[4]]
    kwargs = {**titanic.kwargs, "rows": rows, "training_data": titanic.data, "num_samples": 500}
    result = lime_local(**kwargs, random_state=11)
    assert result.random_state == 11 and result.num_samples == 500 and result.mode == "classification"
    (row,) = result.rows
    assert row.index == int(rows.index[0]) and row.explained_class == 1 and row.output_name == "P(Survived=1)"
    assert len(row.feature_weights) == 4 and set(row.feature_contributions) == set(titanic.X.columns)
    descriptions = [description for description, _ in row.feature_weights]
    assert any(d.startswith(f"Sex={rows.iloc[0]['Sex']}") for d in descriptions)
    weights = [abs(weight) for _, weight in row.feature_weights]
    assert weights == sorted(weights, reverse=True)
    assert row.prediction == titanic.predictor.predict(rows).iloc[0]
    assert row.probabilities == pytest.approx(
        {str(k): v for k, v in model_proba(titanic, rows).iloc[0].to_dict().items()}
    )
    assert result.stats["model_calls"] <= 4  # the whole neighbourhood in one call
    again = lime_local(**kwargs, random_state=11)
    assert again.as_dict()["rows"] == result.as_dict()["rows"]  # bit for bit
    other = lime_local(**kwargs, random_state=12)
    assert other.rows[0].feature_weights != row.feature_weights
    assert_json_ready(result)
    # the transform cache (off by default for LIME) predicts the same neighbourhood, so the same weights
    cached = lime_local(**kwargs, random_state=11, fast_transform=True)
    assert cached.fast_transform and not result.fast_transform
    assert cached.rows[0].feature_contributions == pytest.approx(row.feature_contributions)
    assert [d for d, _ in cached.rows[0].feature_weights] == [d for d, _ in row.feature_weights]


def test_lime_imputes_missing_values_for_lime_only(titanic):
    rows = titanic.X.iloc[[0, 1]].copy()
    rows.loc[rows.index[0], "Age"] = np.nan
    rows.loc[rows.index[1], "Sex"] = np.nan
    result = lime_local(**titanic.kwargs, rows=rows, training_data=titanic.X, num_samples=300, num_features=2)
    first, second = result.rows
    assert first.imputed == {"Age": float(titanic.X["Age"].median())}
    assert second.imputed == {"Sex": titanic.X["Sex"].mode()[0]}
    assert len(first.feature_weights) == 2 and result.num_features == 2
    # the reported probabilities are the model's on the rows as given, missing values and all
    proba = model_proba(titanic, rows)
    assert first.probabilities["1"] == pytest.approx(proba.iloc[0][1])
    assert second.probabilities["1"] == pytest.approx(proba.iloc[1][1])
    assert_json_ready(result)


def test_lime_multiclass_and_regression(penguins, boston):
    prows = penguins.X.iloc[[0, 200]]
    presult = lime_local(**penguins.kwargs, rows=prows, training_data=penguins.data, num_samples=400)
    predicted = penguins.predictor.predict(prows).tolist()
    assert [row.explained_class for row in presult.rows] == predicted
    assert all(len(row.feature_weights) == 7 for row in presult.rows)
    assert_json_ready(presult)

    bresult = lime_local(**boston.kwargs, rows=boston.X.iloc[[7]], training_data=boston.X, num_samples=400)
    assert bresult.mode == "regression" and bresult.rows[0].explained_class is None
    assert bresult.rows[0].prediction == pytest.approx(float(boston.predictor.predict(boston.X.iloc[[7]]).iloc[0]))
    assert bresult.rows[0].output_name == "medv" and len(bresult.rows[0].feature_weights) == 13
    assert_json_ready(bresult)


def test_plain_makes_json_values():
    values = engine.plain(
        {
            "a": np.float32(1.5),
            "b": [np.nan, np.inf, None, pd.NA, pd.NaT],
            "c": np.array([[1, 2]]),
            1: np.bool_(True),
            "d": pd.Timestamp("2024-01-01"),
        }
    )
    assert values == {"a": 1.5, "b": [None] * 5, "c": [[1, 2]], "1": True, "d": "2024-01-01T00:00:00"}
