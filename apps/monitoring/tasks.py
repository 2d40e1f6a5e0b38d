"""Celery tasks of monitoring (queue ``default``): thin, take ids, call one service; safe to run again."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

TRANSIENT_DB = (OperationalError, InterfaceError)


@shared_task(
    name="apps.monitoring.tasks.build_reference_profile",
    autoretry_for=TRANSIENT_DB,
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=1200,
    time_limit=1500,
)
def build_reference_profile(version_id: int) -> str | None:
    from apps.monitoring.services import reference_profile_build

    reference = reference_profile_build(version_id=version_id)
    return reference.status if reference else None


@shared_task(name="apps.monitoring.tasks.create_drift_report", autoretry_for=TRANSIENT_DB, max_retries=3)
def create_drift_report(registered_model_id: int) -> int | None:
    from apps.monitoring.services import scheduled_drift_report

    report = scheduled_drift_report(registered_model_id=registered_model_id)
    return report.pk if report else None


@shared_task(name="apps.monitoring.tasks.schedule_drift_reports", acks_late=False)
def schedule_drift_reports() -> list[int]:
    """Periodic (celery beat): queue the drift report of every model whose interval is over."""
    from apps.monitoring.services import drift_reports_due

    due = drift_reports_due()
    for registered_model_id in due:
        create_drift_report.delay(registered_model_id)
    return due


@shared_task(name="apps.monitoring.tasks.purge_prediction_log", acks_late=False)
def purge_prediction_log() -> int:
    """Periodic (celery beat): delete logged predictions past their model's retention period."""
    from apps.monitoring.services import predictions_purge

    return predictions_purge()
