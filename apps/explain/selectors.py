"""Reads of explanations."""

from __future__ import annotations

from typing import Any

from apps.core.exceptions import Conflict
from apps.core.models import WorkStatus
from apps.explain import engine
from apps.explain.choices import ExplanationMethod
from apps.explain.models import Explanation
from apps.projects.selectors import dataset_dataframe
from apps.registry import hooks
from apps.registry.models import ModelVersion


def latest_global_explanation(*, version: ModelVersion) -> Explanation | None:
    """The version's newest succeeded global explanation, else one still being made, else None."""
    globals_ = Explanation.objects.filter(model_version=version, method=ExplanationMethod.SHAP_GLOBAL)
    done = globals_.filter(status=WorkStatus.SUCCEEDED).order_by("-finished_at", "-id").first()
    if done is not None:
        return done
    return globals_.filter(status__in=[WorkStatus.QUEUED, WorkStatus.RUNNING]).order_by("-id").first()


def latest_failed_global_explanation(*, version: ModelVersion) -> Explanation | None:
    """The version's newest failed global explanation (shown with its reason and an offer to explain again)."""
    return (
        Explanation.objects.filter(
            model_version=version, method=ExplanationMethod.SHAP_GLOBAL, status=WorkStatus.FAILED
        )
        .order_by("-finished_at", "-id")
        .first()
    )


def training_row(*, version: ModelVersion, index: int) -> dict[str, Any] | None:
    """Row ``index`` (0-based, in file order) of the version's training dataset in its feature columns,
    JSON-ready (missing values as None); None when the dataset has fewer rows."""
    if index < 0 or (version.dataset.n_rows is not None and index >= version.dataset.n_rows):
        return None
    try:
        frame = dataset_dataframe(dataset=version.dataset, nrows=index + 1)
    except FileNotFoundError as exc:
        raise Conflict(str(exc)) from exc
    if len(frame) <= index:
        return None
    names = [feature["name"] for feature in version.features]
    record = frame.iloc[index]
    return {name: engine.plain(record[name]) if name in frame.columns else None for name in names}


def global_explanation_states_for(versions) -> dict[int, hooks.ExplanationState]:
    """The registry's explanation-state hook: per version, a succeeded global explanation if one exists, else the
    newest one queued or running, else the newest failed one with its error. One query."""
    ids = [version.pk for version in versions]
    rows = (
        Explanation.objects.filter(model_version_id__in=ids, method=ExplanationMethod.SHAP_GLOBAL)
        .order_by("model_version_id", "-created_at", "-id")
        .values_list("model_version_id", "pk", "status", "progress", "eta_at", "error", "result__standard_errors")
    )
    rank = {WorkStatus.SUCCEEDED: 0, WorkStatus.RUNNING: 1, WorkStatus.QUEUED: 1, WorkStatus.FAILED: 2}
    best: dict[int, tuple] = {}
    for version_id, pk, status, progress, eta_at, error, errors in rows:
        if status not in rank:  # cancelled
            continue
        if version_id not in best or rank[status] < rank[best[version_id][1]]:
            best[version_id] = (pk, status, progress, eta_at, error, errors)
    return {
        version_id: hooks.ExplanationState(
            status=str(status),
            explanation_id=pk,
            progress=progress,
            eta_at=eta_at,
            error=error or "",
            standard_errors=errors if status == WorkStatus.SUCCEEDED and isinstance(errors, dict) else {},
        )
        for version_id, (pk, status, progress, eta_at, error, errors) in best.items()
    }
