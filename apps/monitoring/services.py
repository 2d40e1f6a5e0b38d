"""Monitoring's writes: monitor settings, reference profiles, feedback, drift reports, retention."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.exceptions import Conflict, NotFound, ValidationError
from apps.monitoring import drift, profile
from apps.monitoring.choices import ProfileStatus, ReportTrigger
from apps.monitoring.logbook import monitor_states
from apps.monitoring.models import DriftReport, ModelMonitor, PredictionRecord, ReferenceProfile
from apps.projects.choices import ProjectRole
from apps.projects.permissions import check_project_access

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.registry.models import ModelVersion, RegisteredModel

logger = logging.getLogger("maestro.monitoring")

CLASSIFICATION = ("binary", "multiclass")
MAX_FEEDBACK_ITEMS = 1000


# ---------------------------------------------------------------------------
# Monitor settings
# ---------------------------------------------------------------------------
def monitor_for(*, registered_model: RegisteredModel) -> ModelMonitor:
    """The model's monitor, made with the settings' defaults the first time."""
    monitor, _ = ModelMonitor.objects.get_or_create(registered_model=registered_model)
    return monitor


@transaction.atomic
def monitor_update(*, registered_model: RegisteredModel, user: User, **fields: Any) -> ModelMonitor:
    """Change how a model is monitored (editors of its project)."""
    check_project_access(user=user, project=registered_model.project, minimum=ProjectRole.EDITOR)
    monitor = monitor_for(registered_model=registered_model)
    monitor = ModelMonitor.objects.select_for_update().get(pk=monitor.pk)
    for name, value in fields.items():
        setattr(monitor, name, value)
    monitor.full_clean()
    monitor.save()
    transaction.on_commit(lambda: monitor_states.forget(registered_model.pk))
    return monitor


# ---------------------------------------------------------------------------
# Reference profiles
# ---------------------------------------------------------------------------
def live_metric_name(task_type: str) -> str:
    return "accuracy" if task_type in CLASSIFICATION else "rmse"


def metric_value(task_type: str, predictions: list[Any], actuals: list[Any]) -> float | None:
    """Accuracy (classification, labels compared as text) or RMSE (regression) of ``predictions``."""
    if not predictions:
        return None
    if task_type in CLASSIFICATION:
        hits = sum(str(p) == str(a) for p, a in zip(predictions, actuals, strict=True))
        return hits / len(predictions)
    errors = np.array(predictions, dtype=float) - np.array(actuals, dtype=float)
    return float(math.sqrt(float(np.mean(errors**2))))


def reference_profile_from_frames(
    *,
    version: ModelVersion,
    train: pd.DataFrame,
    heldout_predictions: list[Any],
    heldout_actuals: list[Any],
) -> ReferenceProfile:
    """Freeze the reference of ``version``: the training frame's profile and sample, the held-out predictions'
    distribution and sample, and the metric on the held-out split. Idempotent: an existing profile is kept."""
    existing = ReferenceProfile.objects.filter(model_version=version).first()
    if existing is not None:
        return existing
    limit = settings.MONITORING_REFERENCE_SAMPLE_ROWS
    profiles, samples = profile.frame_profile(train, version.features, sample_limit=limit)
    kind = profile.prediction_kind(version.task_type)
    predicted = profile.prediction_values(list(heldout_predictions), version.task_type)
    predictions = profile.column_profile(predicted, kind)
    predictions["sample"] = profile.json_values(predicted.head(limit))
    metric = live_metric_name(version.task_type)
    value = metric_value(version.task_type, list(heldout_predictions), list(heldout_actuals))
    try:
        with transaction.atomic():
            return ReferenceProfile.objects.create(
                model_version=version,
                status=ProfileStatus.READY,
                n_rows=len(train),
                n_heldout=len(heldout_predictions),
                features=profiles,
                samples=samples,
                predictions=predictions,
                metric=metric,
                metric_value=value,
            )
    except IntegrityError:  # made meanwhile by another worker
        return ReferenceProfile.objects.get(model_version=version)


def reference_profile_build(*, version_id: int) -> ReferenceProfile | None:
    """Profile the training data of a new version and predict its held-out split (the split its AutoML job made,
    rebuilt from the job's seed and test size). Runs in a worker after registration; a failure is recorded on a
    failed profile (drift reports then say why they cannot run)."""
    from apps.automl.training import split_train_test
    from apps.projects.selectors import dataset_dataframe
    from apps.registry.models import ModelVersion
    from apps.registry.serving import feature_kind, predict_frame

    version = ModelVersion.objects.select_related("job", "dataset", "registered_model").filter(pk=version_id).first()
    if version is None:
        return None
    existing = ReferenceProfile.objects.filter(model_version=version).first()
    if existing is not None and existing.status == ProfileStatus.READY:
        return existing
    try:
        frame = dataset_dataframe(dataset=version.dataset)
        if version.job is not None and version.target in frame.columns:
            split = split_train_test(
                frame,
                target=version.target,
                task_type=version.task_type,
                test_size=version.job.test_size,
                seed=version.job.random_seed,
            )
            train, test = split.train, split.test
        else:
            train, test = frame, frame.iloc[0:0]
        predictions: list[Any] = []
        actuals: list[Any] = []
        if len(test):
            inputs = test[[feature["name"] for feature in version.features]].copy()
            for feature in version.features:
                if feature_kind(feature.get("dtype", "")) == "string":
                    inputs[feature["name"]] = inputs[feature["name"]].astype("object")
            predicted, _ = predict_frame(version=version, frame=inputs)
            predictions = profile.json_values(predicted.reset_index(drop=True))
            actuals = profile.json_values(test[version.target].reset_index(drop=True))
    except Exception as exc:
        logger.exception("The reference profile of model version %s could not be made", version_id)
        ReferenceProfile.objects.filter(model_version=version).delete()
        return ReferenceProfile.objects.create(
            model_version=version, status=ProfileStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
    ReferenceProfile.objects.filter(model_version=version, status=ProfileStatus.FAILED).delete()
    return reference_profile_from_frames(
        version=version, train=train, heldout_predictions=predictions, heldout_actuals=actuals
    )


# ---------------------------------------------------------------------------
# Feedback
# ---------------------------------------------------------------------------
def _actual_error(actual: Any, version: ModelVersion) -> str | None:
    """Why ``actual`` cannot be the true outcome of a prediction of ``version`` (None when it can)."""
    if version.task_type in CLASSIFICATION:
        labels = version.class_labels or []
        if isinstance(actual, bool) and not all(isinstance(label, bool) for label in labels):
            return f"expects one of the class labels {labels!r}, got {actual!r}"
        if not isinstance(actual, str | int | float | bool) or actual not in labels:
            return f"expects one of the class labels {labels!r}, got {actual!r}"
        return None
    if isinstance(actual, bool) or not isinstance(actual, int | float) or not math.isfinite(actual):
        return f"expects a finite number, got {actual!r}"
    return None


@transaction.atomic
def feedback_record(*, registered_model: RegisteredModel, user: User, items: list[dict[str, Any]]) -> int:
    """Record the true outcome of logged predictions of ``registered_model`` (editors with ``models:predict``).

    Every id must name a logged prediction of this model (404 otherwise) and every outcome fit its version's
    task (400 naming the first that does not); then all are recorded, or none. Sending again overwrites."""
    check_project_access(
        user=user, project=registered_model.project, minimum=ProjectRole.EDITOR, capability="models:predict"
    )
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise ValidationError(f"At most {MAX_FEEDBACK_ITEMS} outcomes per call.")
    ids = [item["prediction_id"] for item in items]
    records = {
        record.public_id: record
        for record in PredictionRecord.objects.select_for_update()
        .select_related("model_version")
        .filter(registered_model=registered_model, public_id__in=ids)
    }
    unknown = [str(prediction_id) for prediction_id in ids if prediction_id not in records]
    if unknown:
        raise NotFound(f"No logged prediction of this model with id {', '.join(unknown[:5])}.")
    for index, item in enumerate(items):
        record = records[item["prediction_id"]]
        problem = _actual_error(item["actual"], record.model_version)
        if problem:
            raise ValidationError(
                f"'actual' of prediction {record.public_id} (item {index}) {problem}.", field="actual"
            )
    now = timezone.now()
    changed = []
    for item in items:
        record = records[item["prediction_id"]]
        record.actual, record.actual_at = item["actual"], now
        changed.append(record)
    PredictionRecord.objects.bulk_update(changed, ["actual", "actual_at"])
    return len(changed)


def live_metric(*, version: ModelVersion, start: datetime, end: datetime) -> dict[str, Any]:
    """The metric of the labelled predictions of ``version`` in the window, per day over the retention period,
    and the held-out metric of its reference."""
    reference = ReferenceProfile.objects.filter(model_version=version).first()
    labelled = PredictionRecord.objects.filter(model_version=version, actual__isnull=False)
    in_window = list(labelled.filter(created_at__gte=start, created_at__lte=end).values_list("prediction", "actual"))
    rows = list(
        labelled.filter(created_at__lte=end).order_by("created_at").values_list("created_at", "prediction", "actual")
    )
    by_day: dict[str, tuple[list[Any], list[Any]]] = {}
    for created_at, prediction, actual in rows:
        day = created_at.date().isoformat()
        by_day.setdefault(day, ([], []))
        by_day[day][0].append(prediction)
        by_day[day][1].append(actual)
    series = [
        {"date": day, "value": _rounded(metric_value(version.task_type, p, a)), "n": len(p)}
        for day, (p, a) in sorted(by_day.items())
    ]
    return {
        "metric": live_metric_name(version.task_type),
        "value": _rounded(metric_value(version.task_type, [p for p, _ in in_window], [a for _, a in in_window])),
        "n_labelled": len(in_window),
        "heldout_value": _rounded(reference.metric_value) if reference else None,
        "higher_is_better": version.task_type in CLASSIFICATION,
        "series": series,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


# ---------------------------------------------------------------------------
# Drift reports
# ---------------------------------------------------------------------------
def _reference_column(values: list[Any], kind: str) -> pd.Series:
    series = pd.Series(values, dtype="object")
    if kind == drift.NUMERIC:
        return pd.to_numeric(series, errors="coerce").astype(float)
    return series.map(lambda v: None if v is None else str(v))


IDENTIFIER_NOTE = "not tested: text or identifier (most training values are unique)"
IDENTIFIER_MIN_UNIQUE = 50


def _identifier_like(column: dict[str, Any]) -> bool:
    """A categorical feature whose training values are mostly distinct (names, ids, free text): every new value
    would be a "new category", so category tests cannot say anything about it."""
    present = column.get("count", 0) * (1 - column.get("missing_share", 0.0))
    unique = column.get("n_unique", 0)
    return column.get("kind") == drift.CATEGORICAL and unique >= IDENTIFIER_MIN_UNIQUE and unique > 0.5 * present


def drift_evaluate(
    *, reference: ReferenceProfile, features: list[dict[str, str]], current: pd.DataFrame, share_threshold: float
) -> dict[str, Any]:
    """Per feature the verdict of Evidently's default test on the reference sample and the current (typed) frame,
    how many drifted and whether that share flags the model."""
    results = []
    for feature in features:
        name = feature["name"]
        column = reference.features.get(name, {})
        kind = column.get("kind") or profile.drift_kind(feature.get("dtype", ""))
        if _identifier_like(column):
            results.append({"feature": name, "kind": kind, "test": None, "drifted": False, "note": IDENTIFIER_NOTE})
            continue
        verdict = drift.column_drift(
            feature=name,
            kind=kind,
            reference=_reference_column(reference.samples.get(name, []), kind),
            current=current[name] if name in current.columns else pd.Series([], dtype="object"),
        )
        if verdict is None:
            results.append({"feature": name, "kind": kind, "test": None, "drifted": False, "note": "no values"})
        else:
            results.append(verdict.as_dict())
    tested = [result for result in results if result["test"]]
    n_drifted = sum(1 for result in tested if result["drifted"])
    share = n_drifted / len(tested) if tested else 0.0
    return {
        "features": results,
        "n_features": len(tested),
        "n_drifted": n_drifted,
        "drift_share": round(share, 6),
        "flagged": bool(tested) and share >= share_threshold,
    }


def drift_report_create(
    *,
    registered_model: RegisteredModel,
    user: User | None = None,
    trigger: str = ReportTrigger.MANUAL,
    now: datetime | None = None,
) -> DriftReport:
    """Compare the predictions logged for the production version in the model's window with its reference.

    On demand (``user`` given: editors with ``models:predict``) or on the schedule. 409 when there is no
    production version, no reference yet, or fewer than ``MONITORING_MIN_REPORT_ROWS`` logged predictions."""
    from apps.registry.models import RegisteredModel

    if user is not None:
        check_project_access(
            user=user, project=registered_model.project, minimum=ProjectRole.EDITOR, capability="models:predict"
        )
    registered_model = RegisteredModel.objects.select_related("production_version", "project").get(
        pk=registered_model.pk
    )
    monitor = monitor_for(registered_model=registered_model)
    version = registered_model.production_version
    if version is None:
        raise Conflict(f"'{registered_model.name}' has no production version to monitor.")
    reference = ReferenceProfile.objects.filter(model_version=version).first()
    if reference is None:  # being made after registration, or a version registered before monitoring existed
        _queue_reference_profile(version.pk)
        raise Conflict(f"The reference profile of v{version.version} is being made; try again in a minute.")
    if reference.status != ProfileStatus.READY:
        raise Conflict(f"The reference profile of v{version.version} could not be made: {reference.error}")
    end = now or timezone.now()
    start = end - timedelta(hours=monitor.window_hours)
    rows = list(
        PredictionRecord.objects.filter(model_version=version, created_at__gt=start, created_at__lte=end)
        .order_by("-created_at")
        .values_list("inputs", "prediction")[: settings.MONITORING_MAX_REPORT_ROWS]
    )
    if len(rows) < settings.MONITORING_MIN_REPORT_ROWS:
        raise Conflict(
            f"Only {len(rows)} predictions of v{version.version} were logged in the last {monitor.window_hours} h; "
            f"a drift report needs at least {settings.MONITORING_MIN_REPORT_ROWS}."
        )
    current = profile.typed_frame(pd.DataFrame([inputs for inputs, _ in rows]), version.features)
    verdicts = drift_evaluate(
        reference=reference, features=version.features, current=current, share_threshold=monitor.drift_share
    )
    prediction_kind = profile.prediction_kind(version.task_type)
    prediction_verdict = drift.column_drift(
        feature="prediction",
        kind=prediction_kind,
        reference=_reference_column(reference.predictions.get("sample", []), prediction_kind),
        current=profile.prediction_values([prediction for _, prediction in rows], version.task_type),
    )
    with transaction.atomic():
        # One report at a time per model decides whether it notifies (the monitor's row is the lock).
        ModelMonitor.objects.select_for_update().get(pk=monitor.pk)
        notify = verdicts["flagged"] and drift_notification_due(
            registered_model=registered_model, version=version, at=end
        )
        report = DriftReport.objects.create(
            registered_model=registered_model,
            model_version=version,
            trigger=trigger,
            created_by=user,
            window_start=start,
            window_end=end,
            n_current=len(rows),
            n_reference=reference.n_rows,
            features=verdicts["features"],
            prediction_drift=prediction_verdict.as_dict() if prediction_verdict else {},
            live_metric=live_metric(version=version, start=start, end=end),
            n_features=verdicts["n_features"],
            n_drifted=verdicts["n_drifted"],
            drift_share=verdicts["drift_share"],
            share_threshold=monitor.drift_share,
            flagged=verdicts["flagged"],
            notified=notify,
        )
        if notify:
            _notify_flagged(report)
    logger.info(
        "Drift report %s of %s: %s of %s features drifted%s",
        report.pk,
        registered_model.name,
        report.n_drifted,
        report.n_features,
        " (flagged)" if report.flagged else "",
    )
    return report


def drift_notification_due(*, registered_model: RegisteredModel, version: ModelVersion, at: datetime) -> bool:
    """Whether a report of ``version`` made ``at`` that flags the model notifies: it does when the model becomes
    flagged (its previous report did not flag it, was of another version, or there was none), and while it stays
    flagged, once ``MONITORING_RENOTIFY_DAYS`` have passed since the last report that notified (0: never again)."""
    reports = DriftReport.objects.filter(registered_model=registered_model).order_by("-pk")
    previous = reports.values("flagged", "model_version_id").first()
    if previous is None or not previous["flagged"] or previous["model_version_id"] != version.pk:
        return True
    days = settings.MONITORING_RENOTIFY_DAYS
    if days <= 0:
        return False
    last = reports.filter(model_version=version, notified=True).values_list("window_end", flat=True).first()
    return last is None or at - last >= timedelta(days=days)


def _queue_reference_profile(version_id: int) -> None:
    from apps.monitoring.tasks import build_reference_profile

    try:
        build_reference_profile.delay(version_id)
    except Exception:
        logger.exception("Could not queue the reference profile of model version %s", version_id)


def _notify_flagged(report: DriftReport) -> None:
    from apps.governance.choices import NotificationKind
    from apps.governance.notify import project_event

    registered_model = report.registered_model
    drifted = [result["feature"] for result in report.features if result.get("drifted")]
    title = (
        f"{registered_model.name} v{report.model_version.version}: data drift in {report.n_drifted} of "
        f"{report.n_features} features"
    )
    body = (
        f"Drift report #{report.pk} of {registered_model.name} flags the model: {', '.join(drifted)} drifted "
        f"(share {report.drift_share:.2f} >= {report.share_threshold:.2f}) over {report.n_current} predictions."
    )
    project_event(
        project=registered_model.project,
        kind=NotificationKind.MONITORING,
        title=title,
        body=body,
        path=f"/monitoring/models/{registered_model.pk}/",
        event_type="monitoring.drift_flagged",
        data={
            "drift_report_id": report.pk,
            "registered_model_id": registered_model.pk,
            "registered_model": registered_model.name,
            "model_version_id": report.model_version_id,
            "drifted_features": drifted,
            "drift_share": report.drift_share,
        },
    )


def drift_reports_due(*, now: datetime | None = None) -> list[int]:
    """Ids of the registered models whose scheduled drift report is due (enabled, in production, interval over);
    their ``last_scheduled_at`` is set, so a model is picked once per interval."""
    from apps.registry.models import RegisteredModel

    now = now or timezone.now()
    due = []
    for registered_model in RegisteredModel.objects.filter(production_version__isnull=False):
        monitor = monitor_for(registered_model=registered_model)
        if not monitor.enabled:
            continue
        if monitor.last_scheduled_at and now - monitor.last_scheduled_at < timedelta(
            hours=monitor.report_interval_hours
        ):
            continue
        updated = ModelMonitor.objects.filter(pk=monitor.pk, last_scheduled_at=monitor.last_scheduled_at).update(
            last_scheduled_at=now
        )
        if updated:
            due.append(registered_model.pk)
    return due


def scheduled_drift_report(*, registered_model_id: int, now: datetime | None = None) -> DriftReport | None:
    """A scheduled report; a model that cannot have one now (no data, no reference) is skipped with a log line."""
    from apps.registry.models import RegisteredModel

    registered_model = RegisteredModel.objects.filter(pk=registered_model_id).first()
    if registered_model is None:
        return None
    try:
        return drift_report_create(registered_model=registered_model, trigger=ReportTrigger.SCHEDULE, now=now)
    except Conflict as exc:
        logger.info("No scheduled drift report of %s: %s", registered_model.name, exc.message)
        return None


# ---------------------------------------------------------------------------
# Retention
# ---------------------------------------------------------------------------
def predictions_purge(*, now: datetime | None = None, chunk: int = 5000) -> int:
    """Delete logged predictions older than their model's retention period (in chunks); answers how many."""
    now = now or timezone.now()
    default_days = settings.MONITORING_DEFAULT_RETENTION_DAYS
    retention = dict(ModelMonitor.objects.values_list("registered_model_id", "retention_days"))
    model_ids = set(PredictionRecord.objects.order_by().values_list("registered_model_id", flat=True).distinct())
    deleted = 0
    for model_id in model_ids:
        cutoff = now - timedelta(days=retention.get(model_id, default_days))
        while True:
            ids = list(
                PredictionRecord.objects.filter(registered_model_id=model_id, created_at__lt=cutoff).values_list(
                    "pk", flat=True
                )[:chunk]
            )
            if not ids:
                break
            deleted += PredictionRecord.objects.filter(pk__in=ids).delete()[0]
    return deleted
