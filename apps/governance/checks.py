"""The automatic checks run when an approval request enters testing. Each answers a result with evidence:

``{"name", "title", "status": "passed" | "failed" | "skipped", "detail", "evidence": {...}}``

- ``holdout_score``: the version's held-out metric named by the policy is at least the policy's minimum (skipped when
  the policy sets no threshold);
- ``artifact_hash``: the stored predictor archive hashes to the SHA-256 recorded at training time;
- ``feature_schema``: the version's feature schema is well formed, is the one its job recorded, and its training
  dataset still has those columns and the target;
- ``explanation``: a global explanation exists (asked through ``apps.registry.hooks``: governance never imports the
  explain app); pending while one is on its way, and the checks run again when it ends;
- ``model_card``: the version's model card exists, is current, and has its sections.

A check never raises for what it finds: an unexpected error is a failed result naming it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from apps.core.archives import sha256_stream
from apps.governance.choices import CheckStatus
from apps.registry import hooks

if TYPE_CHECKING:
    from apps.registry.models import ModelVersion

CheckResult = dict[str, Any]


def _plain(value: Any) -> Any:
    """JSON-safe evidence: non-finite floats become None (the history's hash chain refuses NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _result(name: str, title: str, status: str, detail: str, **evidence: Any) -> CheckResult:
    return {"name": name, "title": title, "status": str(status), "detail": detail, "evidence": _plain(evidence)}


def check_holdout_score(version: ModelVersion, policy: dict[str, Any]) -> CheckResult:
    title = "Holdout score"
    metric = (policy.get("holdout_metric") or "").strip()
    minimum = policy.get("holdout_min_score")
    if not metric or minimum is None:
        return _result("holdout_score", title, CheckStatus.SKIPPED, "The project's policy sets no holdout threshold.")
    metrics = version.metrics or {}
    value = metrics.get(metric)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return _result(
            "holdout_score",
            title,
            CheckStatus.FAILED,
            f"The version recorded no held-out '{metric}' score.",
            metric=metric,
            minimum=minimum,
            recorded_metrics=sorted(metrics),
        )
    passed = float(value) >= float(minimum)
    relation = ">=" if passed else "<"
    return _result(
        "holdout_score",
        title,
        CheckStatus.PASSED if passed else CheckStatus.FAILED,
        f"{metric} {float(value):.4f} {relation} {float(minimum):.4f}",
        metric=metric,
        value=float(value),
        minimum=float(minimum),
    )


def check_artifact_hash(version: ModelVersion, policy: dict[str, Any]) -> CheckResult:
    title = "Artifact hash"
    expected = version.artifact_sha256
    name = version.artifact.name if version.artifact else ""
    if not name or not expected:
        return _result("artifact_hash", title, CheckStatus.FAILED, "The version has no stored, hashed archive.")
    storage = version.artifact.storage
    if not storage.exists(name):
        return _result(
            "artifact_hash", title, CheckStatus.FAILED, "The archive is missing from storage.", artifact=name
        )
    with storage.open(name, "rb") as handle:
        actual = sha256_stream(handle)
    size = storage.size(name)
    if actual != expected:
        return _result(
            "artifact_hash",
            title,
            CheckStatus.FAILED,
            "The stored archive does not match the SHA-256 recorded at training time: it was changed.",
            artifact=name,
            expected_sha256=expected,
            actual_sha256=actual,
            size_bytes=size,
        )
    return _result(
        "artifact_hash",
        title,
        CheckStatus.PASSED,
        "The stored archive matches the SHA-256 recorded at training time.",
        artifact=name,
        sha256=actual,
        size_bytes=size,
    )


def check_feature_schema(version: ModelVersion, policy: dict[str, Any]) -> CheckResult:
    title = "Feature schema"
    features = version.features if isinstance(version.features, list) else []
    problems: list[str] = []
    names = [feature.get("name") for feature in features if isinstance(feature, dict)]
    if not features or len(names) != len(features) or not all(isinstance(name, str) and name for name in names):
        problems.append("the schema is not a list of {name, dtype}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"duplicate features {duplicates}")
    if not all(isinstance(feature, dict) and feature.get("dtype") for feature in features):
        problems.append("a feature has no dtype")
    if version.job_id and version.job.features and version.job.features != version.features:
        problems.append("it differs from the schema its training job recorded")
    columns = {column.get("name") for column in (version.dataset.columns or []) if isinstance(column, dict)}
    missing = [name for name in names if columns and name not in columns]
    if missing:
        problems.append(f"the training dataset lacks {missing}")
    if columns and version.target not in columns:
        problems.append(f"the training dataset lacks the target '{version.target}'")
    evidence = {
        "n_features": len(features),
        "features": [{"name": f.get("name"), "dtype": f.get("dtype")} for f in features if isinstance(f, dict)],
        "target": version.target,
        "dataset_id": version.dataset_id,
        "dataset_sha256": version.dataset.sha256,
    }
    if problems:
        return _result("feature_schema", title, CheckStatus.FAILED, "; ".join(problems).capitalize() + ".", **evidence)
    return _result(
        "feature_schema",
        title,
        CheckStatus.PASSED,
        f"{len(features)} features, as trained, all present in the training dataset with the target.",
        **evidence,
    )


def check_explanation(version: ModelVersion, policy: dict[str, Any]) -> CheckResult:
    """Passed when a global explanation exists; pending while one is queued or running (the checks run again by
    themselves when it ends); failed, with its reason, when the latest one failed or none was ever asked for."""
    title = "Global explanation"
    importances = hooks.feature_importances_for([version]).get(version.pk) or {}
    if not importances:
        state = hooks.explanation_state_of(version)
        evidence = {"explanation_id": state.explanation_id, "explanation_status": state.status}
        if state.on_its_way:
            progress = f", {state.progress:.0%} done" if state.progress else ""
            eta = f", expected by {state.eta_at:%H:%M:%S} UTC" if state.eta_at else ""
            return _result(
                "explanation",
                title,
                CheckStatus.PENDING,
                f"The global explanation #{state.explanation_id} is {state.status}{progress}{eta}; the checks run "
                "again when it ends.",
                **evidence,
            )
        if state.status == "failed":
            return _result(
                "explanation",
                title,
                CheckStatus.FAILED,
                f"The global explanation #{state.explanation_id} failed: {state.error} Explain the version again; "
                "the checks run again when it ends.",
                **evidence,
            )
        return _result(
            "explanation",
            title,
            CheckStatus.FAILED,
            "No global explanation of this version exists yet; make one: the checks run again when it ends.",
            **evidence,
        )
    ranked = sorted(importances.items(), key=lambda item: abs(float(item[1])), reverse=True)
    return _result(
        "explanation",
        title,
        CheckStatus.PASSED,
        f"A global explanation covers {len(importances)} features.",
        n_features=len(importances),
        top=[{"feature": name, "importance": float(value)} for name, value in ranked[:5]],
    )


CARD_SECTIONS = ("model", "training_data", "features", "metrics")


def check_model_card(version: ModelVersion, policy: dict[str, Any]) -> CheckResult:
    from apps.registry.services import model_card_refresh

    title = "Model card"
    version = model_card_refresh(version=version)
    card = version.card or {}
    missing = [section for section in CARD_SECTIONS if not card.get(section)]
    evidence = {
        "generated_at": card.get("generated_at"),
        "inputs_sha256": version.card_inputs_sha256,
        "sections": sorted(card),
    }
    if not card or missing:
        return _result(
            "model_card", title, CheckStatus.FAILED, f"The model card lacks {missing or 'everything'}.", **evidence
        )
    return _result("model_card", title, CheckStatus.PASSED, "The model card exists and is current.", **evidence)


CHECKS: list[tuple[str, str, Callable[[ModelVersion, dict[str, Any]], CheckResult]]] = [
    ("holdout_score", "Holdout score", check_holdout_score),
    ("artifact_hash", "Artifact hash", check_artifact_hash),
    ("feature_schema", "Feature schema", check_feature_schema),
    ("explanation", "Global explanation", check_explanation),
    ("model_card", "Model card", check_model_card),
]
CHECK_NAMES = [name for name, _, _ in CHECKS]


def run_checks(version: ModelVersion, policy: dict[str, Any]) -> list[CheckResult]:
    """Every check's result, in a fixed order; an unexpected error fails that check only."""
    results = []
    for name, title, check in CHECKS:
        try:
            results.append(check(version, policy))
        except Exception as exc:  # a check that cannot run has not passed
            results.append(
                _result(name, title, CheckStatus.FAILED, f"The check could not run: {type(exc).__name__}: {exc}")
            )
    return results


def overall_status(results: list[CheckResult]) -> str:
    """Failed when a check failed; else pending while one waits (an explanation on its way); passed when every
    check passed or was skipped."""
    statuses = {result["status"] for result in results}
    if not results or CheckStatus.FAILED in statuses:
        return CheckStatus.FAILED
    if CheckStatus.PENDING in statuses:
        return CheckStatus.PENDING
    return CheckStatus.PASSED


def pending_results() -> list[CheckResult]:
    """What the checks say while a run is queued or running."""
    return [_result(name, title, CheckStatus.PENDING, "Waiting for the background run.") for name, title, _ in CHECKS]
