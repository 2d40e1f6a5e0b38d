"""Maestro ML's own metrics on ``/metrics``, beside django-prometheus's, and who may read them.

Metrics that several processes must agree on (web processes, workers) are read from the database or the
broker when Prometheus scrapes, by collectors each app registers from its ``ready()`` through one door,
:func:`register_collector` (a collector registered anywhere else is missing from production's ``/metrics``, which
gunicorn's multiprocess mode builds from the workers' files and these collectors only):

- ``maestro_celery_queue_length{queue}``: messages waiting in each Celery queue (here; read from the broker);
- ``maestro_database_connections{state}`` and ``maestro_database_max_connections`` (here; PostgreSQL only);
- ``maestro_training_jobs{status}``, ``maestro_training_jobs_finished_total{status}``,
  ``maestro_training_job_duration_seconds{status}``: :mod:`apps.automl.metrics`;
- ``maestro_model_registrations_total``, ``maestro_registered_models``, ``maestro_predictions_total`` and
  ``maestro_prediction_duration_seconds`` by registered model: :mod:`apps.registry.metrics`;
- explanations (:mod:`apps.explain.metrics`), approvals and webhook deliveries (:mod:`apps.governance.metrics`);
- backups (:mod:`apps.backups.metrics`) and model drift (:mod:`apps.monitoring.metrics`).

``/metrics`` answers (:func:`metrics_view`, anyone else gets 404): callers sending ``Authorization: Bearer
<METRICS_TOKEN>`` when that is set; else, when ``METRICS_PUBLIC`` is off (production), only direct callers
from ``METRICS_ALLOWED_NETWORKS`` that came through no proxy (no ``X-Forwarded-For``/``X-Real-IP``), i.e.
Prometheus on the internal network, never a visitor coming in through nginx or the ingress.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger("maestro.metrics")


def queue_lengths() -> dict[str, int]:
    """Messages waiting in each configured Celery queue, read from the broker (a passive declare)."""
    from kombu import Connection

    lengths: dict[str, int] = {}
    with Connection(
        settings.CELERY_BROKER_URL,
        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        connect_timeout=settings.HEALTH_CHECK_TIMEOUT,
    ) as conn:
        channel = conn.default_channel
        # kombu's own transports (Redis, filesystem) count a queue directly; a passive declare would look for the
        # Redis key without the transport's global_keyprefix and find every queue missing.
        size = getattr(channel, "_size", None)
        for queue in settings.CELERY_TASK_QUEUES:
            try:
                if size is not None:
                    lengths[queue.name] = int(size(queue.name))
                else:
                    lengths[queue.name] = int(channel.queue_declare(queue=queue.name, passive=True).message_count)
            except Exception:  # noqa: BLE001 - a queue nobody declared yet holds nothing
                lengths[queue.name] = 0
    return lengths


class QueueCollector:
    """``maestro_celery_queue_length{queue}`` (what the worker autoscaler and the backlog alert read)."""

    def describe(self):
        yield GaugeMetricFamily("maestro_celery_queue_length", "Messages waiting per Celery queue", labels=["queue"])

    def collect(self):
        family = GaugeMetricFamily("maestro_celery_queue_length", "Messages waiting per Celery queue", labels=["queue"])
        try:
            lengths = queue_lengths()
        except Exception as exc:  # noqa: BLE001 - the broker is down: no sample, the scrape still answers
            logger.warning("Queue lengths unavailable: %s", exc)
            return
        for name, length in lengths.items():
            family.add_metric([name], length)
        yield family


class DatabaseCollector:
    """``maestro_database_connections`` (open connections to Maestro ML's PostgreSQL database, every process
    and client counted by the server) and ``maestro_database_max_connections`` (the server's limit): the
    "connections near the limit" alert divides one by the other. SQLite has neither."""

    def describe(self):
        yield GaugeMetricFamily("maestro_database_connections", "Connections open to the database", labels=["state"])
        yield GaugeMetricFamily("maestro_database_max_connections", "The database server's connection limit")

    def collect(self):
        from django.db import DatabaseError, connection

        if connection.vendor != "postgresql":
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() GROUP BY 1"
                )
                states = dict(cursor.fetchall())
                cursor.execute("SELECT setting::int FROM pg_settings WHERE name = 'max_connections'")
                limit = cursor.fetchone()[0]
        except DatabaseError as exc:
            logger.warning("Database metrics unavailable: %s", exc)
            return
        connections = GaugeMetricFamily(
            "maestro_database_connections", "Connections open to the database", labels=["state"]
        )
        for state in ("active", "idle", "idle in transaction"):
            states.setdefault(state, 0)
        for state, count in sorted(states.items()):
            connections.add_metric([state], count)
        yield connections
        yield GaugeMetricFamily(
            "maestro_database_max_connections", "The database server's connection limit", value=limit
        )


# Scrape-time collectors by name: in the default registry, and added to the multiprocess registry that
# /metrics builds under gunicorn (PROMETHEUS_MULTIPROC_DIR), which otherwise holds only the files' samples.
COLLECTORS: dict[str, object] = {}


def register_collector(name: str, factory: Callable[[], object]) -> None:
    """Register a collector once per process (``ready()`` may run more than once in tests)."""
    if name in COLLECTORS:
        return
    from prometheus_client import REGISTRY

    collector = factory()
    REGISTRY.register(collector)
    COLLECTORS[name] = collector


def register_metrics() -> None:
    register_collector("queues", QueueCollector)
    register_collector("database", DatabaseCollector)


# ---------------------------------------------------------------------------
# Who may read /metrics
# ---------------------------------------------------------------------------
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def _networks(values: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip()]


def metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    if settings.METRICS_PUBLIC:
        return True
    if any(request.META.get(header) for header in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _networks(settings.METRICS_ALLOWED_NETWORKS))


def metrics_view(request: HttpRequest) -> HttpResponse:
    """django-prometheus' exposition (multiprocess-aware) for those :func:`metrics_allowed` lets in; 404 else."""
    if not metrics_allowed(request):
        raise Http404("Not found.")
    import os

    import prometheus_client
    from prometheus_client import multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in COLLECTORS.values():
            registry.register(collector)
    else:
        registry = prometheus_client.REGISTRY
    return HttpResponse(prometheus_client.generate_latest(registry), content_type=prometheus_client.CONTENT_TYPE_LATEST)
