"""Training-job metrics for ``/metrics``, read from the database when Prometheus scrapes (every web process
answers the same, and what workers did is included):

- ``maestro_training_jobs{status}``: jobs by state (queued, running, succeeded, failed, cancelled);
- ``maestro_training_jobs_finished_total{status}``: jobs that ended, by how (the failure-rate alert's input);
- ``maestro_training_job_duration_seconds{status}``: histogram of ended jobs' run time (start to finish),
  counted in the database bucket by bucket.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

logger = logging.getLogger("maestro.automl")

DURATION_BUCKETS = (30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
TERMINAL = ("succeeded", "failed", "cancelled")


def _families():
    return (
        GaugeMetricFamily("maestro_training_jobs", "Training jobs by state", labels=["status"]),
        CounterMetricFamily("maestro_training_jobs_finished", "Training jobs that ended, by state", labels=["status"]),
        HistogramMetricFamily(
            "maestro_training_job_duration_seconds", "Run time of ended training jobs", labels=["status"]
        ),
    )


class TrainingJobCollector:
    def describe(self):
        yield from _families()

    def collect(self):
        try:
            yield from self._collect()
        except DatabaseError as exc:  # not migrated yet, or the database is down
            logger.warning("Training-job metrics unavailable: %s", exc)

    def _collect(self):
        from datetime import timedelta

        from apps.automl.models import TrainingJob
        from apps.core.models import WorkStatus

        by_state, finished, durations = _families()
        counts = dict(TrainingJob.objects.order_by().values_list("status").annotate(n=Count("id")))
        for status in WorkStatus.values:
            by_state.add_metric([status], counts.get(status, 0))
            if status in TERMINAL:
                finished.add_metric([status], counts.get(status, 0))
        yield by_state
        yield finished

        took = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        ended = TrainingJob.objects.filter(
            status__in=TERMINAL, started_at__isnull=False, finished_at__isnull=False
        ).annotate(took=took)
        aggregates = {
            f"le_{bound}": Count("id", filter=Q(took__lte=timedelta(seconds=bound))) for bound in DURATION_BUCKETS
        }
        for status in TERMINAL:
            row = ended.filter(status=status).aggregate(total=Count("id"), seconds=Sum("took"), **aggregates)
            buckets = [(str(float(bound)), row[f"le_{bound}"]) for bound in DURATION_BUCKETS]
            buckets.append(("+Inf", row["total"]))
            total = row["seconds"]
            durations.add_metric([status], buckets, sum_value=total.total_seconds() if total else 0.0)
        yield durations


def register_metrics() -> None:
    from apps.core.metrics import register_collector

    register_collector("automl", TrainingJobCollector)
