"""What every part of the engine shares: JSON-ready values, feature kinds, the seeded global random state, the
library versions results record, and the model's feature frame and background sample."""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

PROBLEM_TYPES = ("binary", "multiclass", "regression")
NUMERIC, CATEGORICAL, DATETIME = "numeric", "categorical", "datetime"
EXACT, PERMUTATION = "exact", "permutation"
DEFAULT_EXACT_MAX_FEATURES = 12
DEFAULT_PERMUTATION_EVALS = 500

_GLOBAL_RNG_LOCK = threading.RLock()


def plain(value: Any) -> Any:
    """A JSON-ready copy of ``value``: numpy / pandas scalars and arrays become Python values and lists,
    NaN, infinities, ``None``, ``pd.NA`` and ``NaT`` become None, timestamps become ISO strings."""
    if isinstance(value, dict):
        return {str(plain(key)) if not isinstance(key, str) else key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return [plain(item) for item in value.tolist()]
    if isinstance(value, pd.DataFrame):
        return [plain(record) for record in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return plain(value.tolist())
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def ranked(importances: dict[str, Any] | None) -> dict[str, float]:
    """``importances`` largest first (a JSON column may not keep the order it was stored in)."""
    pairs = [(str(name), float(value)) for name, value in (importances or {}).items() if value is not None]
    return dict(sorted(pairs, key=lambda pair: (-abs(pair[1]), pair[0])))


def feature_kind(dtype: str) -> str:
    """How the engine treats a feature of recorded ``dtype`` (a pandas dtype such as ``float64``/``object``
    or an AutoGluon raw type such as ``int``/``category``): ``numeric``, ``datetime`` or ``categorical``
    (everything else: object, category, string, bool, text)."""
    name = (dtype or "").lower()
    if name in {"bool", "boolean"}:
        return CATEGORICAL
    if name.startswith(("int", "uint", "float", "double", "decimal", "numeric", "number")):
        return NUMERIC
    if name.startswith("datetime") or name in {"date", "timestamp"}:
        return DATETIME
    return CATEGORICAL


@contextmanager
def seeded_global_numpy(seed: int) -> Iterator[None]:
    """Seed NumPy's global random state for the block, under a lock, and give the caller's state back after.

    shap's PermutationExplainer and beeswarm plot draw from the global state; this keeps them reproducible
    and keeps two explanations in different threads from stealing each other's draws."""
    with _GLOBAL_RNG_LOCK:
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    return False


def category_sort_key(value: Any) -> tuple[str, str]:
    return (type(value).__name__, str(value))


@functools.cache
def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("shap", "lime", "autogluon.tabular"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - all three are dependencies
            continue
    return found


def library_versions() -> dict[str, str]:
    """The versions of shap, lime and AutoGluon that produced a result (a fresh dict each call)."""
    return dict(_library_versions())


def feature_frame(data: pd.DataFrame, features: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The model's feature columns of ``data``, in schema order (extra columns, such as the target, dropped).

    Raises ValueError naming every feature that ``data`` lacks."""
    names = [str(feature["name"]) for feature in features]
    missing = [name for name in names if name not in data.columns]
    if missing:
        raise ValueError(f"The data lacks the features {', '.join(repr(name) for name in missing)}.")
    return data.loc[:, names].copy()


def sample_background(
    data: pd.DataFrame, *, features: Sequence[dict[str, Any]], size: int = 100, seed: int = 0
) -> pd.DataFrame:
    """A seeded sample of ``size`` rows of ``data`` (all rows when it has fewer), in the model's columns:
    the background that SHAP integrates masked features over. Store it to explain single rows later."""
    import shap

    if size < 1:
        raise ValueError("background_size must be at least 1.")
    frame = feature_frame(data, features)
    if frame.empty:
        raise ValueError("The data has no rows to draw a background from.")
    return shap.sample(frame, size, random_state=seed)
