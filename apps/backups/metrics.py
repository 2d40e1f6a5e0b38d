"""Backup metrics for ``/metrics``, read from the database when Prometheus scrapes, so every web process reports
the same (backups run in workers, in the CLI and in a Kubernetes CronJob):

- ``maestro_backup_last_success_timestamp_seconds``: when the newest successful backup finished (0: never);
- ``maestro_backup_last_outcome``: 1 when the newest backup succeeded, 0 when it failed (absent before any);
- ``maestro_backup_last_size_bytes``: size of the newest successful backup;
- ``maestro_backups_total{outcome}``: backups by outcome (``succeeded``, ``failed``).
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

logger = logging.getLogger("maestro.backups")

LAST_SUCCESS = "maestro_backup_last_success_timestamp_seconds"
LAST_OUTCOME = "maestro_backup_last_outcome"
LAST_SIZE = "maestro_backup_last_size_bytes"
TOTAL = "maestro_backups"


class BackupCollector:
    """A prometheus_client collector; registered once from ``BackupsConfig.ready()``."""

    def describe(self):
        yield GaugeMetricFamily(LAST_SUCCESS, "Unix time the newest successful backup finished (0: never)")
        yield GaugeMetricFamily(LAST_OUTCOME, "1 if the newest backup succeeded, 0 if it failed")
        yield GaugeMetricFamily(LAST_SIZE, "Bytes of the newest successful backup")
        yield CounterMetricFamily(TOTAL, "Backups by outcome", labels=["outcome"])

    def collect(self):
        try:
            yield from self._collect()
        except DatabaseError as exc:  # not migrated yet, or the database is down: no backup samples
            logger.warning("Backup metrics unavailable: %s", exc)

    def _collect(self):
        from apps.backups.models import BackupOutcome, BackupRecord

        last_success = (
            BackupRecord.objects.filter(outcome=BackupOutcome.SUCCEEDED)
            .order_by("-finished_at")
            .values_list("finished_at", "size_bytes")
            .first()
        )
        last = BackupRecord.objects.order_by("-finished_at").values_list("outcome", flat=True).first()
        counts = dict(BackupRecord.objects.order_by().values_list("outcome").annotate(n=Count("id")))

        success = GaugeMetricFamily(LAST_SUCCESS, "Unix time the newest successful backup finished (0: never)")
        success.add_metric([], last_success[0].timestamp() if last_success else 0.0)
        yield success
        outcome = GaugeMetricFamily(LAST_OUTCOME, "1 if the newest backup succeeded, 0 if it failed")
        if last is not None:
            outcome.add_metric([], 1.0 if last == BackupOutcome.SUCCEEDED else 0.0)
        yield outcome
        size = GaugeMetricFamily(LAST_SIZE, "Bytes of the newest successful backup")
        size.add_metric([], float(last_success[1]) if last_success else 0.0)
        yield size
        total = CounterMetricFamily(TOTAL, "Backups by outcome", labels=["outcome"])
        for value in BackupOutcome.values:
            total.add_metric([value], counts.get(value, 0))
        yield total


def register_metrics() -> None:
    from apps.core.metrics import register_collector

    register_collector("backups", BackupCollector)
