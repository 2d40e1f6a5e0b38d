"""Rules a training request must meet, shared by the API (on the dataset's stored profile) and the worker
(on the data itself), so a job is refused up front for the same reasons it would fail later."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from apps.automl.choices import METRICS_BY_TASK, TaskType

NUMERIC_DTYPE_NAMES = {"numeric", "number", "integer", "int", "float", "double", "decimal", "real"}


def dtype_is_numeric(dtype: str | None) -> bool:
    """Whether a stored column type name (``numeric``, ``int64``, ``float32``...) is a number."""
    name = (dtype or "").strip().lower()
    return name in NUMERIC_DTYPE_NAMES or name.startswith(("int", "uint", "float"))


@dataclass(frozen=True)
class TargetSummary:
    """What the rules need to know about a target column."""

    column: str
    is_numeric: bool
    n_unique: int
    n_present: int

    @classmethod
    def of_series(cls, series: pd.Series) -> TargetSummary:
        present = series.dropna()
        return cls(
            column=str(series.name),
            is_numeric=bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)),
            n_unique=int(present.nunique()),
            n_present=int(len(present)),
        )


def target_problem(summary: TargetSummary, *, task_type: str, min_rows: int) -> str | None:
    """Why ``summary``'s column cannot be the target of a ``task_type`` job, or None when it can."""
    column = summary.column
    if summary.n_present == 0:
        return f"The target column '{column}' has only missing values; pick a column with values to learn from."
    if summary.n_unique < 2:
        return (
            f"The target column '{column}' has a single value in every row, so there is nothing to learn; "
            "pick a column with at least two different values."
        )
    if summary.n_present < min_rows:
        return (
            f"The target column '{column}' has values in {summary.n_present} rows; training needs at least "
            f"{min_rows}. Upload more data."
        )
    if task_type == TaskType.REGRESSION and not summary.is_numeric:
        return (
            f"Regression needs a numeric target, but '{column}' holds text or categories; "
            "use binary or multiclass classification."
        )
    if task_type == TaskType.BINARY and summary.n_unique != 2:
        hint = "multiclass classification" + (" or regression" if summary.is_numeric else "")
        return f"Binary classification needs exactly 2 classes, but '{column}' has {summary.n_unique}; use {hint}."
    if task_type == TaskType.MULTICLASS:
        if summary.n_unique == 2:
            return f"'{column}' has exactly 2 classes; use binary classification."
        if summary.n_unique >= summary.n_present:
            return f"Every row of '{column}' has a different value, so it cannot be a class label; " + (
                "use regression." if summary.is_numeric else "pick another target."
            )
    return None


def resolve_task_type(summary: TargetSummary, *, task_type: str, metric: str = "") -> str:
    """The task type to train: the one asked for, or for ``auto`` what the target (and metric) imply.

    Returns ``auto`` when AutoGluon should decide (a numeric target with many values and no metric).
    """
    if task_type != TaskType.AUTO:
        return task_type
    if summary.n_unique == 2:
        return TaskType.BINARY
    if not summary.is_numeric:
        return TaskType.MULTICLASS
    if metric in METRICS_BY_TASK[TaskType.REGRESSION] and metric not in METRICS_BY_TASK[TaskType.MULTICLASS]:
        return TaskType.REGRESSION
    if metric in METRICS_BY_TASK[TaskType.MULTICLASS] and metric not in METRICS_BY_TASK[TaskType.REGRESSION]:
        return TaskType.MULTICLASS
    return TaskType.AUTO


def metric_problem(metric: str, *, task_type: str) -> str | None:
    """Why ``metric`` cannot score a ``task_type`` job, or None when it can (or no metric was asked for)."""
    if not metric:
        return None
    if task_type == TaskType.AUTO:
        allowed = METRICS_BY_TASK[TaskType.REGRESSION] | METRICS_BY_TASK[TaskType.MULTICLASS]
    else:
        allowed = METRICS_BY_TASK[task_type]
    if metric in allowed:
        return None
    label = "this target" if task_type == TaskType.AUTO else f"{task_type} tasks"
    return f"'{metric}' is not a metric for {label}; use one of: {', '.join(sorted(allowed))}."
