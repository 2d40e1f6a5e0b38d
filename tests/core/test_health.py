"""Liveness touches nothing; readiness checks only what serving needs (database, cache, broker), within a
time limit and without error text; the deep check of every dependency is for operators only."""

import time

import pytest
from django.test import Client

from apps.core import health
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_health_answers_without_dependencies(client):
    for path in ("/health", "/health/live"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


def test_ready_checks_what_serving_needs_and_nothing_else(client):
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check == {"status": "up"} for check in body["checks"].values())


def test_ready_stays_up_when_mlflow_is_down(client, settings):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:1"
    settings.HEALTH_CHECK_TIMEOUT = 0.5
    assert client.get("/health/ready").status_code == 200


def test_ready_never_writes_to_storage(client, monkeypatch):
    from django.core.files.storage import default_storage

    def refuse(*args, **kwargs):
        raise AssertionError("readiness wrote to storage")

    monkeypatch.setattr(default_storage, "save", refuse)
    assert client.get("/health/ready").status_code == 200


def test_ready_is_503_naming_the_broker_without_error_text(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.HEALTH_CHECK_TIMEOUT = 0.5
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 503
    assert body["down"] == ["broker"]
    assert body["checks"]["broker"] == {"status": "down"}
    assert body["checks"]["database"]["status"] == "up"
    text = response.content.decode()
    assert "Error" not in text and "refused" not in text.lower() and "127.0.0.1" not in text


def test_every_check_answers_within_the_time_limit(client, settings, monkeypatch):
    settings.HEALTH_CHECK_TIMEOUT = 0.3

    def hangs():
        time.sleep(3)

    monkeypatch.setitem(health.READINESS_CHECKS, "database", hangs)
    started = time.monotonic()
    response = client.get("/health/ready")
    assert time.monotonic() - started < 2
    assert response.status_code == 503 and response.json()["down"] == ["database"]


def operator_browser() -> Client:
    browser = Client()
    browser.force_login(UserFactory(roles=["admin"], is_staff=True))
    return browser


def test_deep_check_is_not_found_for_anyone_but_operators(client, settings):
    settings.HEALTH_CHECK_TOKEN = ""
    assert client.get("/health/deep").status_code == 404
    assert client.get("/health/deep", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    viewer = Client()
    viewer.force_login(UserFactory(roles=["viewer"]))
    assert viewer.get("/health/deep").status_code == 404
    staff_engineer = Client()
    staff_engineer.force_login(UserFactory(roles=["ml_engineer"], is_staff=True))
    assert staff_engineer.get("/health/deep").status_code == 404


def test_deep_check_reports_every_dependency_with_latencies_to_an_admin():
    response = operator_browser().get("/health/deep")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "cache", "broker", "storage", "mlflow"}
    assert all(check["status"] == "up" and check["latency_ms"] >= 0 for check in body["checks"].values())


def test_deep_check_answers_the_monitoring_token_and_says_what_is_wrong(client, settings):
    settings.HEALTH_CHECK_TOKEN = "a-long-random-monitoring-token-0123456789"
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:1"
    settings.HEALTH_CHECK_TIMEOUT = 0.5
    assert client.get("/health/deep", HTTP_AUTHORIZATION="Bearer wrong-token").status_code == 404
    response = client.get("/health/deep", HTTP_AUTHORIZATION=f"Bearer {settings.HEALTH_CHECK_TOKEN}")
    body = response.json()
    assert response.status_code == 503 and body["down"] == ["mlflow"]
    assert body["checks"]["mlflow"]["error"]  # the reason, for operators


def test_metrics_are_exported_for_prometheus(client):
    client.get("/health")
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert "django_http_requests_total_by_method_total" in text
    assert "django_db_new_connections_total" in text
