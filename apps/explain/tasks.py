"""Celery tasks of explanations (queue ``explain``, by ``CELERY_TASK_ROUTES``): thin, take ids."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError


@shared_task(
    name="apps.explain.tasks.run_explanation",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    max_retries=3,
    soft_time_limit=settings.EXPLAIN_TASK_TIME_LIMIT,
    time_limit=settings.EXPLAIN_TASK_TIME_LIMIT + 60,
)
def run_explanation(explanation_id: int) -> str | None:
    """Compute one explanation; a repeated delivery of an ended one does nothing."""
    from apps.explain.services import explanation_run

    explanation = explanation_run(explanation_id=explanation_id)
    return explanation.status if explanation else None


@shared_task(
    name="apps.explain.tasks.explain_new_version",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    max_retries=3,
)
def explain_new_version(version_id: int) -> int | None:
    """Queue the global explanation of a version that was just registered."""
    from apps.explain.services import explanation_for_new_version

    explanation = explanation_for_new_version(version_id=version_id)
    return explanation.pk if explanation else None
