"""Registry metrics for ``/metrics``:

- ``maestro_model_registrations_total`` and ``maestro_registered_models``: model versions registered and
  registered models, read from the database when Prometheus scrapes (the same from every process);
- ``maestro_predictions_total{registered_model_id}`` (rows predicted online) and
  ``maestro_prediction_duration_seconds{registered_model_id}`` (time of each call, validation and model),
  counted by the process that served them (gunicorn's processes add up through PROMETHEUS_MULTIPROC_DIR).
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

logger = logging.getLogger("maestro.registry")

predictions = Counter(
    "maestro_predictions_total",
    "Rows predicted by online prediction calls, by registered model",
    ["registered_model_id"],
)
prediction_seconds = Histogram(
    "maestro_prediction_duration_seconds",
    "Time of an online prediction call (validation and model), by registered model",
    ["registered_model_id"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def prediction_served(*, registered_model_id: int, rows: int, seconds: float) -> None:
    """Count one online prediction call (called by the predict views once the model answered)."""
    label = str(registered_model_id)
    predictions.labels(label).inc(rows)
    prediction_seconds.labels(label).observe(seconds)


class RegistryCollector:
    def describe(self):
        yield CounterMetricFamily("maestro_model_registrations", "Model versions registered")
        yield GaugeMetricFamily("maestro_registered_models", "Registered models")

    def collect(self):
        try:
            from apps.registry.models import ModelVersion, RegisteredModel

            versions, models = ModelVersion.objects.count(), RegisteredModel.objects.count()
        except DatabaseError as exc:
            logger.warning("Registry metrics unavailable: %s", exc)
            return
        yield CounterMetricFamily("maestro_model_registrations", "Model versions registered", value=versions)
        yield GaugeMetricFamily("maestro_registered_models", "Registered models", value=models)


def register_metrics() -> None:
    from apps.core.metrics import register_collector

    register_collector("registry", RegistryCollector)
