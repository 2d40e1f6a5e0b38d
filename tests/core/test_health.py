import pytest

pytestmark = pytest.mark.django_db


def test_health_answers_without_dependencies(client):
    for path in ("/health", "/health/live"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


def test_ready_reports_each_dependency_up(client):
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "storage", "mlflow"}
    assert all(check["status"] == "up" for check in body["checks"].values())


def test_ready_is_503_naming_the_broker_when_it_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.HEALTH_CHECK_TIMEOUT = 0.5
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 503
    assert body["down"] == ["broker"]
    assert body["checks"]["broker"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "up"


def test_ready_is_503_when_mlflow_server_is_unreachable(client, settings):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:1"
    settings.HEALTH_CHECK_TIMEOUT = 0.5
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["down"] == ["mlflow"]


def test_metrics_are_exported_for_prometheus(client):
    client.get("/health")
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert "django_http_requests_total_by_method_total" in text
    assert "django_db_new_connections_total" in text
