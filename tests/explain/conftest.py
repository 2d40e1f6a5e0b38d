"""Real, tiny AutoGluon models for the explanation engine's tests, trained once per session in a tmp folder.

Each fixture answers a :class:`Trained` model: the predictor (persisted, as the platform serves it), the
feature schema as the platform records it, the problem type, the class labels and the data it was fitted on.
Fits are kept small (a few hundred rows, LightGBM, one CPU) so the whole tests/explain run stays short.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"
FIT = {
    "time_limit": 20,
    "num_cpus": 1,
    "num_gpus": 0,
    "excluded_model_types": ["NN_TORCH", "FASTAI"],
}


@dataclass
class Trained:
    predictor: Any
    features: list[dict[str, str]]
    problem_type: str
    class_labels: list[Any]
    data: pd.DataFrame  # the rows it was fitted on, target included
    target: str
    holdout: pd.DataFrame | None = None

    @property
    def kwargs(self) -> dict[str, Any]:
        """The arguments every engine function takes about the model."""
        return {
            "predictor": self.predictor,
            "features": self.features,
            "problem_type": self.problem_type,
            "class_labels": self.class_labels,
        }

    @property
    def X(self) -> pd.DataFrame:  # noqa: N802 - the usual name for the feature matrix
        return self.data.drop(columns=[self.target])


def fit(
    folder: Path,
    data: pd.DataFrame,
    target: str,
    *,
    hyperparameters: dict | None = None,
    raw_dtypes: bool = False,
    holdout: pd.DataFrame | None = None,
) -> Trained:
    from autogluon.tabular import TabularPredictor

    predictor = TabularPredictor(label=target, path=str(folder), verbosity=0).fit(
        data, hyperparameters=hyperparameters or {"GBM": {}}, **FIT
    )
    predictor.persist()
    if raw_dtypes:  # what apps.automl.runner records: AutoGluon's raw types ("float", "int", "object")
        types = predictor.feature_metadata_in.type_map_raw
        features = [{"name": str(name), "dtype": str(types[name])} for name in predictor.original_features]
    else:  # pandas dtypes of the training frame
        features = [{"name": str(name), "dtype": str(data[name].dtype)} for name in predictor.original_features]
    labels = [label.item() if hasattr(label, "item") else label for label in (predictor.class_labels or [])]
    return Trained(
        predictor=predictor,
        features=features,
        problem_type=str(predictor.problem_type),
        class_labels=labels,
        data=data,
        target=target,
        holdout=holdout,
    )


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("explain-models")


@pytest.fixture(scope="session")
def titanic(models_dir) -> Trained:
    """Binary, 4 features: free-text Name, string categoricals PClass and Sex, Age with missing values."""
    data = pd.read_csv(EXAMPLES / "titanic.csv").sample(400, random_state=0).reset_index(drop=True)
    return fit(models_dir / "titanic", data, "Survived")


@pytest.fixture(scope="session")
def penguins(models_dir) -> Trained:
    """Multiclass (3 species), 7 features: string categoricals with missing values, numbers with missing values,
    an int column; a LightGBM + XGBoost weighted ensemble; schema in AutoGluon's raw types."""
    data = pd.read_csv(EXAMPLES / "penguins.csv")
    return fit(models_dir / "penguins", data, "species", hyperparameters={"GBM": {}, "XGB": {}}, raw_dtypes=True)


@pytest.fixture(scope="session")
def boston(models_dir) -> Trained:
    """Regression, 13 numeric features (some int): more than the Exact explainer's default limit."""
    data = pd.read_csv(EXAMPLES / "boston.csv")
    return fit(models_dir / "boston", data, "medv")


def signal_frame(rows: int, seed: int) -> pd.DataFrame:
    """``signal`` and the categorical ``color`` decide the target; ``noise1`` and ``noise2`` are pure noise."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    color = rng.choice(["red", "green", "blue"], size=rows)
    shift = pd.Series(color).map({"red": 1.5, "green": 0.0, "blue": -1.5}).to_numpy()
    target = (signal + shift + rng.normal(scale=0.3, size=rows) > 0).astype(int)
    return pd.DataFrame(
        {
            "signal": signal,
            "color": color,
            "noise1": rng.normal(size=rows),
            "noise2": rng.uniform(size=rows),
            "target": target,
        }
    )


@pytest.fixture(scope="session")
def synthetic(models_dir) -> Trained:
    """Binary, built so the truth is known: signal and color matter, noise1 and noise2 do not."""
    return fit(models_dir / "synthetic", signal_frame(400, seed=1), "target", holdout=signal_frame(300, seed=2))


@pytest.fixture(scope="session")
def mixed(models_dir) -> Trained:
    """Regression on every other kind of column: datetime, bool, pandas category, int (with a missing value)."""
    rng = np.random.default_rng(4)
    rows = 300
    grade = pd.Categorical(rng.choice(["low", "mid", "high"], size=rows), categories=["low", "mid", "high"])
    count = rng.integers(0, 10, size=rows)
    data = pd.DataFrame(
        {
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, size=rows), unit="D"),
            "flag": rng.random(rows) < 0.5,
            "grade": grade,
            "count": count,
        }
    )
    data["y"] = count * 2.0 + pd.Series(grade).map({"low": 0.0, "mid": 5.0, "high": 10.0}).to_numpy()
    data["y"] += data["flag"] * 3.0 + rng.normal(scale=0.5, size=rows)
    return fit(models_dir / "mixed", data, "y")
