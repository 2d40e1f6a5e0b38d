"""Monitoring metrics for ``/metrics``. From the database when Prometheus scrapes (the same whichever process
answers), per registered model with a drift report, from its latest report:

- ``maestro_model_drift_score{registered_model,project}``: the share of its features that drifted;
- ``maestro_model_drifted_features{...}``: how many drifted;
- ``maestro_model_drift_flagged{...}``: 1 when the report flags the model.

Counted by each process (``logbook``): ``maestro_predictions_logged_total{source}`` and
``maestro_predictions_log_dropped_total`` (rows not logged because the queue was full).
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger("maestro.monitoring")
LABELS = ["registered_model_id", "registered_model", "project"]


class MonitoringCollector:
    def describe(self):
        yield GaugeMetricFamily("maestro_model_drift_score", "Share of drifted features (latest report)", labels=LABELS)
        yield GaugeMetricFamily("maestro_model_drifted_features", "Drifted features (latest report)", labels=LABELS)
        yield GaugeMetricFamily(
            "maestro_model_drift_flagged", "1 when the latest report flags the model", labels=LABELS
        )

    def collect(self):
        try:
            yield from self._collect()
        except DatabaseError as exc:
            logger.warning("Monitoring metrics unavailable: %s", exc)

    def _collect(self):
        latest = _latest_reports()
        score = GaugeMetricFamily(
            "maestro_model_drift_score", "Share of drifted features (latest report)", labels=LABELS
        )
        count = GaugeMetricFamily("maestro_model_drifted_features", "Drifted features (latest report)", labels=LABELS)
        flag = GaugeMetricFamily(
            "maestro_model_drift_flagged", "1 when the latest report flags the model", labels=LABELS
        )
        for model_id, name, project, share, drifted, flagged in latest:
            labels = [str(model_id), name, project]
            score.add_metric(labels, share)
            count.add_metric(labels, drifted)
            flag.add_metric(labels, 1 if flagged else 0)
        yield score
        yield count
        yield flag


def _latest_reports():
    """(model id, name, project, share, drifted, flagged) of each model's latest report."""
    from django.db.models import Max

    from apps.monitoring.models import DriftReport

    ids = (
        DriftReport.objects.order_by()
        .values("registered_model_id")
        .annotate(last=Max("id"))
        .values_list("last", flat=True)
    )
    return DriftReport.objects.filter(pk__in=list(ids)).values_list(
        "registered_model_id", "registered_model__name", "registered_model__project__name",
        "drift_share", "n_drifted", "flagged",
    )  # fmt: skip


def register_metrics() -> None:
    from apps.core.metrics import register_collector

    register_collector("monitoring", MonitoringCollector)
