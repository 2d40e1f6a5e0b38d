"""AutoGluon's own permutation importance on held-out rows, in the form results are stored."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from apps.explain.engine.common import feature_frame, library_versions, plain

if TYPE_CHECKING:
    from autogluon.tabular import TabularPredictor


@dataclass
class PermutationImportanceResult:
    """AutoGluon's permutation importance of each feature on held-out rows: the drop of ``eval_metric``
    (higher is better) when the feature is shuffled."""

    importances: dict[str, dict[str, float | int | None]]  # feature -> importance, stddev, p_value, n, pXX_*
    eval_metric: str
    model: str
    confidence_level: float
    rows: int
    seed: int
    num_shuffle_sets: int
    time_limit: float | None
    elapsed_seconds: float
    versions: dict[str, str]

    @property
    def feature_importances(self) -> dict[str, float | None]:
        return {name: values["importance"] for name, values in self.importances.items()}

    def as_dict(self) -> dict[str, Any]:
        return plain({"kind": "permutation_importance", **self.__dict__})


def permutation_importance(
    *,
    predictor: TabularPredictor,
    holdout: pd.DataFrame,
    target: str,
    features: Sequence[dict[str, Any]] | None = None,
    seed: int = 0,
    subsample_size: int | None = 5000,
    num_shuffle_sets: int = 5,
    time_limit: float | None = None,
    confidence_level: float = 0.99,
    model: str | None = None,
) -> PermutationImportanceResult:
    """Permutation importance with ``predictor.feature_importance`` on ``holdout`` (user columns and the
    ``target`` column; rows without a target are dropped).

    AutoGluon shuffles with fixed seeds of its own; the engine makes ``seed`` count by drawing
    ``subsample_size`` rows (all when fewer) and putting them in a seeded order first, so the same seed gives
    the same numbers and another seed other shuffles. With ``time_limit`` fewer than ``num_shuffle_sets`` may
    be evaluated (``n`` says how many). Values are plain floats; NaN (e.g. a stddev from one shuffle) is None."""
    started = time.monotonic()
    if target not in holdout.columns:
        raise ValueError(f"The holdout data lacks the target column {target!r}.")
    if features is not None:
        data = feature_frame(holdout, features)
        data[target] = holdout[target].to_numpy()
    else:
        data = holdout.copy()
    data = data[data[target].notna()]
    if len(data) < 2:
        raise ValueError("Permutation importance needs at least two holdout rows with a target.")
    size = len(data) if subsample_size is None else min(len(data), int(subsample_size))
    data = data.sample(n=size, random_state=seed).reset_index(drop=True)
    table = predictor.feature_importance(
        data,
        model=model,
        features=[str(feature["name"]) for feature in features] if features is not None else None,
        subsample_size=None,
        time_limit=time_limit,
        num_shuffle_sets=num_shuffle_sets,
        include_confidence_band=True,
        confidence_level=confidence_level,
        silent=True,
    )
    importances: dict[str, dict[str, float | int | None]] = {}
    for name, record in table.iterrows():
        values: dict[str, float | int | None] = {}
        for column, value in record.items():
            value = plain(value)
            if column == "n" and value is not None:
                value = int(value)
            values[str(column)] = value
        importances[str(name)] = values
    return PermutationImportanceResult(
        importances=importances,
        eval_metric=str(getattr(predictor.eval_metric, "name", predictor.eval_metric)),
        model=str(model or predictor.model_best),
        confidence_level=confidence_level,
        rows=len(data),
        seed=seed,
        num_shuffle_sets=num_shuffle_sets,
        time_limit=time_limit,
        elapsed_seconds=round(time.monotonic() - started, 3),
        versions=library_versions(),
    )
