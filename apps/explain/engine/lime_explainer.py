"""LIME explanations of single rows (``LimeTabularExplainer`` on the adapter's encoded matrix).

One explainer is built per call (LIME's statistics of the training rows cost more than a row's explanation) and
its random state is seeded again with ``random_state`` before every row, so a row's weights depend only on that
row, the training data, ``num_samples`` and ``random_state``: exactly what a fresh explainer per row gives.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from apps.explain.engine.adapter import ModelAdapter
from apps.explain.engine.budget import CostModel
from apps.explain.engine.common import CATEGORICAL, feature_frame, library_versions, plain

if TYPE_CHECKING:
    from autogluon.tabular import TabularPredictor

# What LIME itself costs a row beyond its model call (sampling, distances, the weighted ridge fit), per feature.
LIME_ROW_OVERHEAD_S = 0.01
LIME_FEATURE_OVERHEAD_S = 0.0005


def lime_seconds(cost: CostModel, *, rows: int, num_samples: int, n_features: int) -> float:
    """The estimated time of a LIME explanation of ``rows`` rows."""
    per_row = cost.seconds(calls=1, rows=num_samples) + LIME_ROW_OVERHEAD_S + LIME_FEATURE_OVERHEAD_S * n_features
    return rows * per_row


@dataclass
class LimeRow:
    """LIME's explanation of one row."""

    index: Any
    feature_weights: list[list[Any]]  # [[description, weight], ...], largest |weight| first
    feature_contributions: dict[str, float]  # feature name -> weight
    explained_class: Any  # classification: the class whose probability LIME explains; None for regression
    output_name: str  # what the weights explain: "P(species=Adelie)", "medv"
    prediction: Any  # the predictor's answer for the row (label or value)
    probabilities: dict[str, float] | None  # classification: the model's probabilities for the row
    intercept: float
    local_prediction: float  # the local linear model's output for the row
    score: float  # R² of the local linear model on the weighted neighbourhood
    imputed: dict[str, Any]  # features that were missing in the row, and the value LIME used instead

    def as_dict(self) -> dict[str, Any]:
        return plain(self.__dict__)


@dataclass
class LimeResult:
    """LIME explanations of some rows."""

    problem_type: str
    mode: str
    feature_names: list[str]
    output_name: str
    class_labels: list[Any]
    rows: list[LimeRow]
    random_state: int
    num_samples: int
    num_features: int
    training_rows: int
    fast_transform: bool
    stats: dict[str, int]
    elapsed_seconds: float
    versions: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return plain(
            {
                "kind": "lime_local",
                "problem_type": self.problem_type,
                "mode": self.mode,
                "feature_names": self.feature_names,
                "output_name": self.output_name,
                "class_labels": self.class_labels,
                "rows": [row.as_dict() for row in self.rows],
                "random_state": self.random_state,
                "num_samples": self.num_samples,
                "num_features": self.num_features,
                "training_rows": self.training_rows,
                "fast_transform": self.fast_transform,
                "stats": self.stats,
                "elapsed_seconds": self.elapsed_seconds,
                "versions": self.versions,
            }
        )


def _impute_values(adapter: ModelAdapter, matrix: np.ndarray) -> np.ndarray:
    """Per feature: the training median (numeric, datetime) or most frequent code (categorical); 0 when a
    column has no value at all."""
    fill = np.zeros(matrix.shape[1])
    for j, codec in enumerate(adapter.codecs):
        column = matrix[:, j]
        column = column[np.isfinite(column)]
        if len(column) == 0:
            continue
        if codec.kind == CATEGORICAL:
            codes, counts = np.unique(column, return_counts=True)
            fill[j] = codes[np.argmax(counts)]
        else:
            fill[j] = float(np.median(column))
    return fill


def lime_local(
    *,
    predictor: TabularPredictor,
    features: Sequence[dict[str, Any]],
    problem_type: str,
    class_labels: Sequence[Any] | None,
    rows: pd.DataFrame,
    training_data: pd.DataFrame,
    num_samples: int = 1000,
    random_state: int = 0,
    num_features: int | None = None,
    max_training_rows: int = 10_000,
    fast_transform: bool = False,
) -> LimeResult:
    """LIME explanation of each of ``rows`` with ``LimeTabularExplainer`` on the encoded matrix.

    ``training_data`` (user columns; the target column may stay) gives LIME its statistics and the
    categorical vocabularies (at most ``max_training_rows`` of it, drawn with ``random_state``). Missing values
    are replaced for LIME only by the training median (numeric) or mode (categorical); the row's prediction
    and probabilities are the model's on the row as given, and ``imputed`` says what LIME saw instead. LIME
    explains P(positive class) for binary, the predicted class for multiclass, the value for regression.
    ``num_features=None`` keeps every feature. Each row is explained with the random state seeded again with
    ``random_state``, so the same arguments give bit-for-bit the same weights.

    LIME's neighbourhood is made of new numbers, so the per-column transform cache rarely pays off here
    (``fast_transform`` is off by default); each row costs one model call on ``num_samples`` rows."""
    from lime.lime_tabular import LimeTabularExplainer

    started = time.monotonic()
    if num_samples < 2:
        raise ValueError("num_samples must be at least 2.")
    frame = feature_frame(rows, features)
    if frame.empty:
        raise ValueError("There are no rows to explain.")
    training = feature_frame(training_data, features)
    if training.empty:
        raise ValueError("The training data has no rows.")
    if len(training) > max_training_rows:
        training = training.sample(max_training_rows, random_state=random_state)
    adapter = ModelAdapter(
        predictor=predictor,
        features=features,
        problem_type=problem_type,
        class_labels=class_labels,
        reference=pd.concat([training, frame]),
        fast_transform=fast_transform,
    )
    training_matrix = adapter.encode(training)
    matrix = adapter.encode(frame)
    if fast_transform:
        adapter.prepare(np.vstack([training_matrix, matrix]))
    fill = _impute_values(adapter, training_matrix)
    lime_training = np.where(np.isfinite(training_matrix), training_matrix, fill)
    lime_rows = np.where(np.isfinite(matrix), matrix, fill)
    categorical = adapter.categorical_indices
    categorical_names = {j: [str(value) for value in adapter.codecs[j].categories] or ["nan"] for j in categorical}
    names = adapter.feature_names
    count = len(names) if num_features is None else max(1, min(int(num_features), len(names)))
    mode = "regression" if problem_type == "regression" else "classification"
    outputs = adapter.predict_all(matrix)
    predictions = adapter.predictions_from(outputs)

    def lime_predict(batch: np.ndarray) -> np.ndarray:  # class probabilities (n, K), or values (n,)
        return adapter.predict_all(batch)

    explainer = LimeTabularExplainer(
        lime_training,
        mode=mode,
        feature_names=names,
        categorical_features=categorical,
        categorical_names=categorical_names,
        class_names=[str(label) for label in adapter.class_labels] or None,
        discretize_continuous=True,
        feature_selection="none" if num_features is None else "auto",
        random_state=random_state,
    )
    explained: list[LimeRow] = []
    for i, index in enumerate(frame.index):
        explainer.random_state.seed(random_state)  # shared by its sampler, discretizer and ridge fit
        if mode == "classification":
            if problem_type == "binary":
                label = adapter.positive_index
            else:
                label = adapter.class_index(predictions[i])
            exp = explainer.explain_instance(
                lime_rows[i], lime_predict, labels=(label,), num_features=count, num_samples=num_samples
            )
            weights = exp.as_list(label=label)
            pairs = exp.as_map()[label]
            intercept = exp.intercept[label]
            explained_class = adapter.class_labels[label]
            probabilities = {str(name): float(outputs[i, k]) for k, name in enumerate(adapter.class_labels)}
        else:
            exp = explainer.explain_instance(lime_rows[i], lime_predict, num_features=count, num_samples=num_samples)
            weights = exp.as_list()
            pairs = exp.as_map()[1]
            intercept = exp.intercept[1]
            explained_class = None
            probabilities = None
            label = None
        local = np.asarray(exp.local_pred).reshape(-1)
        imputed = {
            names[j]: plain(adapter.decode(lime_rows[i : i + 1]).iloc[0, j])
            for j in range(len(names))
            if not np.isfinite(matrix[i, j])
        }
        explained.append(
            LimeRow(
                index=plain(index),
                feature_weights=[[str(description), float(weight)] for description, weight in weights],
                feature_contributions={names[j]: float(weight) for j, weight in pairs},
                explained_class=explained_class,
                output_name=adapter.output_name if label is None else adapter.class_output_name(label),
                prediction=predictions[i],
                probabilities=probabilities,
                intercept=float(intercept),
                local_prediction=float(local[0]) if len(local) else float("nan"),
                score=float(exp.score),
                imputed=imputed,
            )
        )
    return LimeResult(
        problem_type=problem_type,
        mode=mode,
        feature_names=names,
        output_name=adapter.output_name,
        class_labels=list(adapter.class_labels),
        rows=explained,
        random_state=random_state,
        num_samples=num_samples,
        num_features=count,
        training_rows=len(training),
        fast_transform=adapter.fast_transform,
        stats=dict(adapter.stats),
        elapsed_seconds=round(time.monotonic() - started, 3),
        versions=library_versions(),
    )
