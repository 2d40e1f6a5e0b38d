"""The held-out evaluation stored at training time: curves and areas agree with scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

from apps.automl import evaluation


def test_roc_and_precision_recall_areas_match_scikit_learn():
    rng = np.random.default_rng(0)
    positive = rng.integers(0, 2, 500).astype(float)
    score = np.clip(positive * 0.3 + rng.random(500) * 0.7, 0, 1).round(2)  # ties included
    roc = evaluation.roc_curve(positive, score)
    pr = evaluation.precision_recall_curve(positive, score)
    assert roc["auc"] == pytest.approx(roc_auc_score(positive, score), abs=1e-9)
    assert pr["average_precision"] == pytest.approx(average_precision_score(positive, score), abs=1e-9)
    assert roc["fpr"][0] == 0 and roc["fpr"][-1] == 1 and roc["tpr"][-1] == 1
    assert len(roc["fpr"]) <= evaluation.MAX_CURVE_POINTS


def test_classification_confusion_matrix_in_label_order():
    actual = ["a", "b", "b", "c", "a"]
    predicted = ["a", "b", "c", "c", "b"]
    probabilities = np.eye(3)[[0, 1, 2, 2, 1]]
    result = evaluation.classification(actual, predicted, probabilities, ["a", "b", "c"])
    assert result["confusion_matrix"] == confusion_matrix(actual, predicted, labels=["a", "b", "c"]).tolist()
    assert result["accuracy"] == pytest.approx(0.6)
    assert [curve["label"] for curve in result["curves"]] == ["a", "b", "c"]


def test_binary_keeps_one_curve_of_the_positive_class():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    result = evaluation.classification([0, 1, 1, 0], [0, 1, 0, 0], probabilities, [0, 1])
    assert [curve["label"] for curve in result["curves"]] == [1]
    assert result["curves"][0]["roc"]["auc"] == pytest.approx(1.0)


def test_regression_points_are_thinned_and_residuals_binned():
    actual = np.arange(1000, dtype=float)
    predicted = actual + np.sin(actual)
    result = evaluation.regression(actual, predicted)
    assert result["kind"] == "regression" and result["n_rows"] == 1000
    assert len(result["points"]) <= evaluation.MAX_SCATTER_POINTS
    assert sum(result["residuals"]["counts"]) == 1000
    assert result["residual_mean"] == pytest.approx(float(np.mean(actual - predicted)), abs=1e-6)
