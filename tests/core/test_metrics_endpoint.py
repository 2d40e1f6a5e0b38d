"""Who may read /metrics: a bearer token when METRICS_TOKEN is set; without one, anyone in the embedded default,
and in production (METRICS_PUBLIC off) only direct callers from the internal networks, never through a proxy."""

from __future__ import annotations

import pytest

from apps.core.metrics import queue_lengths

pytestmark = pytest.mark.django_db


def test_metrics_are_public_in_the_embedded_default(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content
    assert b"maestro_celery_queue_length" in response.content


def test_with_a_token_only_its_bearer_reads_metrics(client, settings):
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic scrape-token-0123456789").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-0123456789").status_code == 200


def test_production_default_lets_only_the_internal_network_in_directly(client, settings):
    settings.METRICS_PUBLIC = False
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404
    # Through nginx or an ingress (a proxy on the internal network adds these): refused.
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_X_REAL_IP="203.0.113.9").status_code == 404
    settings.METRICS_ALLOWED_NETWORKS = ["192.168.7.0/24"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 404


def test_production_settings_keep_metrics_private():
    import ast
    from pathlib import Path

    module = ast.parse((Path(__file__).resolve().parents[2] / "config" / "settings" / "production.py").read_text())
    assigned = [
        node
        for node in ast.walk(module)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "METRICS_PUBLIC" for t in node.targets)
    ]
    assert assigned and "default=False" in ast.unparse(assigned[0].value)


def test_queue_lengths_count_waiting_messages(settings):
    from config.celery import app

    before = queue_lengths()
    assert set(before) == {queue.name for queue in settings.CELERY_TASK_QUEUES}
    queue = "maestro-metrics-test"
    from kombu import Exchange, Queue

    settings.CELERY_TASK_QUEUES = (*settings.CELERY_TASK_QUEUES, Queue(queue, Exchange(queue), routing_key=queue))
    with app.connection_for_write() as conn:
        Queue(queue, Exchange(queue), routing_key=queue)(conn.default_channel).declare()
        app.send_task("apps.core.tasks.ping", args=["x"], queue=queue, connection=conn)
        app.send_task("apps.core.tasks.ping", args=["y"], queue=queue, connection=conn)
        try:
            assert queue_lengths()[queue] == 2
        finally:
            Queue(queue, Exchange(queue), routing_key=queue)(conn.default_channel).delete()


def test_database_connections_are_counted_against_the_server_limit(client):
    from django.db import connection

    text = client.get("/metrics").content.decode()
    if connection.vendor != "postgresql":
        assert "maestro_database_connections{" not in text
        return
    active = [line for line in text.splitlines() if line.startswith('maestro_database_connections{state="active"}')]
    assert active and float(active[0].split()[-1]) >= 1  # this very query's connection
    limit = [line for line in text.splitlines() if line.startswith("maestro_database_max_connections ")]
    assert limit and float(limit[0].split()[-1]) >= 10


def test_every_scrape_time_collector_of_the_apps_is_registered_through_the_one_door():
    """Production's /metrics (gunicorn, multiprocess) serves the workers' files plus ``COLLECTORS`` only: a collector
    an app put straight into prometheus_client's registry would be missing there."""
    from prometheus_client import REGISTRY
    from prometheus_client.metrics import MetricWrapperBase

    from apps.core.metrics import COLLECTORS

    ours = [
        collector
        for collector in list(REGISTRY._collector_to_names)
        if not isinstance(collector, MetricWrapperBase) and type(collector).__module__.startswith("apps.")
    ]
    assert {type(collector).__module__ for collector in ours} >= {"apps.backups.metrics", "apps.monitoring.metrics"}
    strays = [type(collector).__qualname__ for collector in ours if collector not in COLLECTORS.values()]
    assert not strays, f"registered around apps.core.metrics.register_collector: {strays}"
