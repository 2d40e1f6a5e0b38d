"""The evaluation of a trained predictor on the job's held-out split, computed once by the runner process.

What the version page draws is stored with the job (``TrainingJob.evaluation``) and copied to the version
it registers: for classification the confusion matrix and, per class (one against the rest), the ROC and
precision-recall curves with their areas; for regression predicted against actual values and the
residuals' distribution. Curves and point clouds are thinned to a few hundred points so the stored JSON
stays small whatever the size of the test split. Only numpy: the runner imports nothing of Django.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SCHEMA = 1
MAX_CURVE_POINTS = 200
MAX_SCATTER_POINTS = 400
MAX_CURVE_CLASSES = 10
RESIDUAL_BINS = 20


def _finite(value: float) -> float | None:
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def _thin(indices_count: int, limit: int) -> np.ndarray:
    """Evenly spaced indices into ``indices_count`` items, at most ``limit``, first and last kept."""
    if indices_count <= limit:
        return np.arange(indices_count)
    return np.unique(np.linspace(0, indices_count - 1, limit).round().astype(int))


def roc_curve(positive: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    """False and true positive rates at every distinct score threshold, and the area under the curve."""
    order = np.argsort(-score, kind="mergesort")
    score, positive = score[order], positive[order]
    distinct = np.r_[np.where(np.diff(score))[0], len(score) - 1]
    tps = np.cumsum(positive)[distinct]
    fps = (distinct + 1) - tps
    n_pos, n_neg = tps[-1] if len(tps) else 0, fps[-1] if len(fps) else 0
    tpr = np.r_[0.0, tps / n_pos] if n_pos else np.r_[0.0, np.zeros(len(tps))]
    fpr = np.r_[0.0, fps / n_neg] if n_neg else np.r_[0.0, np.zeros(len(fps))]
    auc = float(np.trapezoid(tpr, fpr)) if n_pos and n_neg else None
    keep = _thin(len(fpr), MAX_CURVE_POINTS)
    return {"fpr": [_finite(v) for v in fpr[keep]], "tpr": [_finite(v) for v in tpr[keep]], "auc": auc}


def precision_recall_curve(positive: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    """Precision and recall at every distinct threshold, and the average precision."""
    order = np.argsort(-score, kind="mergesort")
    score, positive = score[order], positive[order]
    distinct = np.r_[np.where(np.diff(score))[0], len(score) - 1]
    tps = np.cumsum(positive)[distinct]
    predicted = distinct + 1
    n_pos = tps[-1] if len(tps) else 0
    if not n_pos:
        return {"recall": [], "precision": [], "average_precision": None}
    precision = tps / predicted
    recall = tps / n_pos
    average_precision = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    recall, precision = np.r_[0.0, recall], np.r_[1.0, precision]
    keep = _thin(len(recall), MAX_CURVE_POINTS)
    return {
        "recall": [_finite(v) for v in recall[keep]],
        "precision": [_finite(v) for v in precision[keep]],
        "average_precision": average_precision,
    }


def classification(actual: list, predicted: list, probabilities: np.ndarray | None, labels: list) -> dict[str, Any]:
    """Confusion matrix (rows actual, columns predicted, in ``labels`` order) and per-class curves."""
    index = {label: position for position, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for truth, guess in zip(actual, predicted, strict=True):
        if truth in index and guess in index:
            matrix[index[truth], index[guess]] += 1
    curves = []
    if probabilities is not None and len(actual):
        truth = np.asarray([index.get(value, -1) for value in actual])
        # Binary: the curve of the positive (second) class says it all; multiclass: one per class.
        classes = [len(labels) - 1] if len(labels) == 2 else list(range(min(len(labels), MAX_CURVE_CLASSES)))
        for position in classes:
            positive = (truth == position).astype(float)
            score = np.asarray(probabilities[:, position], dtype=float)
            curves.append(
                {
                    "label": labels[position],
                    "roc": roc_curve(positive, score),
                    "pr": precision_recall_curve(positive, score),
                }
            )
    return {
        "schema": SCHEMA,
        "kind": "classification",
        "n_rows": len(actual),
        "labels": labels,
        "confusion_matrix": matrix.tolist(),
        "accuracy": _finite(np.trace(matrix) / matrix.sum()) if matrix.sum() else None,
        "curves": curves,
    }


def regression(actual: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """A thinned sample of (actual, predicted) pairs and the histogram of residuals (actual - predicted)."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    residuals = actual - predicted
    keep = _thin(len(actual), MAX_SCATTER_POINTS)
    counts, edges = np.histogram(residuals, bins=RESIDUAL_BINS) if len(residuals) else (np.array([]), np.array([]))
    return {
        "schema": SCHEMA,
        "kind": "regression",
        "n_rows": len(actual),
        "points": [[_finite(a), _finite(p)] for a, p in zip(actual[keep], predicted[keep], strict=True)],
        "residuals": {"edges": [_finite(v) for v in edges], "counts": [int(v) for v in counts]},
        "residual_mean": _finite(residuals.mean()) if len(residuals) else None,
        "residual_std": _finite(residuals.std()) if len(residuals) else None,
    }


def evaluate_predictor(predictor, test) -> dict[str, Any]:
    """The evaluation of ``predictor`` (an AutoGluon TabularPredictor) on the held-out frame ``test``."""
    from apps.automl.runner import plain

    label = predictor.label
    actual = test[label]
    features = test.drop(columns=[label])
    if predictor.problem_type in ("binary", "multiclass"):
        labels = [plain(value) for value in predictor.class_labels]
        probabilities = predictor.predict_proba(features, as_multiclass=True)
        probabilities = probabilities[list(predictor.class_labels)].to_numpy(dtype=float)
        predicted = [plain(value) for value in predictor.predict(features)]
        return classification([plain(value) for value in actual], predicted, probabilities, labels)
    return regression(actual.to_numpy(dtype=float), predictor.predict(features).to_numpy(dtype=float))
