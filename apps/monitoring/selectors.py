"""Monitoring's reads, narrowed to what a user may see."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Avg, Count, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from apps.core import scoping
from apps.monitoring.models import DriftReport, PredictionRecord

if TYPE_CHECKING:
    from apps.registry.models import RegisteredModel


def drift_reports_visible_to(*, user) -> QuerySet[DriftReport]:
    return scoping.restrict(
        DriftReport.objects.select_related("registered_model", "model_version"),
        user=user,
        project_field="registered_model__project",
    )


def prediction_log(*, registered_model: RegisteredModel) -> QuerySet[PredictionRecord]:
    """The logged predictions of a model's production versions, newest first."""
    return (
        PredictionRecord.objects.filter(registered_model=registered_model)
        .select_related("model_version", "caller")
        .order_by("-created_at", "-id")
    )


def prediction_activity(
    *, registered_model: RegisteredModel, hours: int = 48, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per hour of the last ``hours``: predictions logged and the mean model latency of their requests."""
    now = now or timezone.now()
    rows = (
        PredictionRecord.objects.filter(registered_model=registered_model, created_at__gte=now - timedelta(hours=hours))
        .annotate(hour=TruncHour("created_at"))
        .order_by("hour")
        .values("hour")
        .annotate(n=Count("id"), latency_ms=Avg("latency_ms"))
    )
    return [{"hour": row["hour"], "n": row["n"], "latency_ms": row["latency_ms"]} for row in rows]
