"""Column profiles and the frames drift tests read: the reference's (frozen from training) and the current
window's (rebuilt from logged inputs), typed the same way from a version's feature schema."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from apps.monitoring.drift import CATEGORICAL, NUMERIC
from apps.registry.serving import BOOLEAN, DATETIME, NUMBER, feature_kind

HISTOGRAM_BINS = 10
TOP_CATEGORIES = 50


def drift_kind(dtype: str) -> str:
    """Numbers and dates are compared as numbers; strings and booleans as categories."""
    return NUMERIC if feature_kind(dtype) in (NUMBER, DATETIME) else CATEGORICAL


def typed_column(values: pd.Series, dtype: str) -> pd.Series:
    """``values`` as drift tests see them: floats (dates as epoch seconds) or text; missing stays missing."""
    kind = feature_kind(dtype)
    if kind == NUMBER:
        return pd.to_numeric(values, errors="coerce").astype(float)
    if kind == DATETIME:
        moments = pd.to_datetime(values, errors="coerce", utc=True)
        seconds = (moments - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        return seconds.astype(float)
    if kind == BOOLEAN:
        return values.map(lambda v: None if _missing(v) else str(bool(v)).lower())
    return values.map(lambda v: None if _missing(v) else str(v))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT


def typed_frame(frame: pd.DataFrame, features: list[dict[str, str]]) -> pd.DataFrame:
    """The model's feature columns of ``frame``, typed (a feature the frame lacks is all missing)."""
    columns = {}
    for feature in features:
        name = feature["name"]
        values = frame[name] if name in frame.columns else pd.Series([None] * len(frame), dtype="object")
        columns[name] = typed_column(values.reset_index(drop=True), feature.get("dtype", ""))
    return pd.DataFrame(columns, index=range(len(frame)))


def column_profile(values: pd.Series, kind: str) -> dict[str, Any]:
    """Missing share and the distribution: histogram (edges, counts) of numbers, frequencies of categories."""
    present = values.dropna()
    profile: dict[str, Any] = {
        "kind": kind,
        "count": int(len(values)),
        "missing_share": round(float(values.isna().mean()), 6) if len(values) else 0.0,
        "n_unique": int(present.nunique()),
    }
    if present.empty:
        return profile
    if kind == NUMERIC:
        numbers = present.to_numpy(dtype=float)
        counts, edges = np.histogram(numbers, bins=HISTOGRAM_BINS)
        profile.update(
            {
                "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
                "min": float(numbers.min()),
                "max": float(numbers.max()),
                "mean": float(numbers.mean()),
                "std": float(numbers.std()),
            }
        )
    else:
        shares = present.value_counts(normalize=True).head(TOP_CATEGORIES)
        profile["frequencies"] = {str(key): round(float(value), 6) for key, value in shares.items()}
    return profile


def json_values(values: pd.Series) -> list[Any]:
    """A column as JSON values (missing: null)."""
    out = []
    for value in values.tolist():
        if _missing(value):
            out.append(None)
        elif isinstance(value, np.generic):
            out.append(value.item())
        else:
            out.append(value)
    return out


def sample_rows(frame: pd.DataFrame, limit: int, seed: int = 0) -> pd.DataFrame:
    if len(frame) <= limit:
        return frame
    return frame.sample(n=limit, random_state=seed)


def frame_profile(
    frame: pd.DataFrame, features: list[dict[str, str]], *, sample_limit: int
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Per feature of ``frame`` (typed) its profile, and a seeded sample of at most ``sample_limit`` rows."""
    typed = typed_frame(frame, features)
    profiles = {f["name"]: column_profile(typed[f["name"]], drift_kind(f.get("dtype", ""))) for f in features}
    sample = sample_rows(typed, sample_limit)
    return profiles, {name: json_values(sample[name]) for name in typed.columns}


def prediction_kind(task_type: str) -> str:
    return NUMERIC if task_type == "regression" else CATEGORICAL


def prediction_values(values: list[Any], task_type: str) -> pd.Series:
    series = pd.Series(values, dtype="object")
    if task_type == "regression":
        return pd.to_numeric(series, errors="coerce").astype(float)
    return series.map(lambda v: None if _missing(v) else str(v))
