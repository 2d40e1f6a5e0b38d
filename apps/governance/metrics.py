"""Governance metrics for ``/metrics``, read from the database when Prometheus scrapes, so they are the same
whichever web process answers and include what workers did:

- ``maestro_approval_requests_open{state}``: open requests (submitted, review, testing) by state;
- ``maestro_approval_requests{state}``: every request by state;
- ``maestro_approval_decision_seconds``: histogram of the time from submission to the decision (approved or
  rejected);
- ``maestro_webhook_deliveries_total{outcome}``: delivery attempts by outcome (``delivered``, ``http_error``,
  ``refused``, ``network_error``).
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

logger = logging.getLogger("maestro.governance")

DECISION_BUCKETS = (3600, 6 * 3600, 24 * 3600, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400)


class GovernanceCollector:
    """A prometheus_client collector; registered once from ``GovernanceConfig.ready()``."""

    def describe(self):
        yield GaugeMetricFamily("maestro_approval_requests_open", "Open approval requests by state", labels=["state"])
        yield GaugeMetricFamily("maestro_approval_requests", "Approval requests by state", labels=["state"])
        yield HistogramMetricFamily("maestro_approval_decision_seconds", "Time from submission to decision")
        yield CounterMetricFamily(
            "maestro_webhook_deliveries", "Webhook delivery attempts by outcome", labels=["outcome"]
        )

    def collect(self):
        try:
            yield from self._collect()
        except DatabaseError as exc:  # not migrated yet, or the database is down: no governance samples
            logger.warning("Governance metrics unavailable: %s", exc)

    def _collect(self):
        from apps.governance.choices import OPEN_STATES, ApprovalState
        from apps.governance.models import ApprovalRequest, WebhookDelivery

        counts = dict(ApprovalRequest.objects.order_by().values_list("state").annotate(n=Count("id")))
        open_requests = GaugeMetricFamily(
            "maestro_approval_requests_open", "Open approval requests by state", labels=["state"]
        )
        for state in OPEN_STATES:
            open_requests.add_metric([state], counts.get(state, 0))
        yield open_requests
        every = GaugeMetricFamily("maestro_approval_requests", "Approval requests by state", labels=["state"])
        for state in ApprovalState:
            every.add_metric([state.value], counts.get(state.value, 0))
        yield every

        waited = ExpressionWrapper(F("decided_at") - F("created_at"), output_field=DurationField())
        durations = (
            ApprovalRequest.objects.filter(decided_at__isnull=False)
            .annotate(waited=waited)
            .values_list("waited", flat=True)
        )
        seconds = [duration.total_seconds() for duration in durations.iterator() if duration is not None]
        buckets = [(str(float(bound)), sum(1 for s in seconds if s <= bound)) for bound in DECISION_BUCKETS]
        buckets.append(("+Inf", len(seconds)))
        histogram = HistogramMetricFamily("maestro_approval_decision_seconds", "Time from submission to decision")
        histogram.add_metric([], buckets, sum_value=sum(seconds))
        yield histogram

        outcomes = WebhookDelivery.objects.order_by().aggregate(
            delivered=Count("id", filter=Q(ok=True)),
            http_error=Count("id", filter=Q(ok=False, status_code__isnull=False)),
            refused=Count("id", filter=Q(ok=False, status_code__isnull=True, error__startswith="refused")),
            network_error=Count("id", filter=Q(ok=False, status_code__isnull=True) & ~Q(error__startswith="refused")),
        )
        deliveries = CounterMetricFamily(
            "maestro_webhook_deliveries", "Webhook delivery attempts by outcome", labels=["outcome"]
        )
        for outcome, value in outcomes.items():
            deliveries.add_metric([outcome], value)
        yield deliveries


def register_metrics() -> None:
    from apps.core.metrics import register_collector

    register_collector("governance", GovernanceCollector)
