"""/metrics reports open requests by state, decision times and webhook outcomes; the approval state is mirrored to
the MLflow model version as a tag, and a version not yet in MLflow is retried (transient), not failed."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from apps.governance.mlflow_tags import MirrorRetry, approval_state_mirror
from apps.governance.models import WebhookDelivery, WebhookMessage
from apps.registry.mlflow_sync import registered_model_mlflow_sync
from tests.governance.factories import WebhookEndpointFactory, to_state

pytestmark = pytest.mark.django_db


def metric(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[-1])


def test_metrics_count_open_requests_decisions_and_deliveries(client, team, make_version, explained):
    to_state(team, "review")
    to_state(team, "rejected", version=make_version("titanic", dataset=team.version.dataset))
    endpoint = WebhookEndpointFactory(project=team.project)
    message = WebhookMessage.objects.create(endpoint=endpoint, msg_id="msg_1", event="approval.submit", body="{}")
    WebhookDelivery.objects.create(message=message, endpoint=endpoint, attempt=1, ok=True, status_code=200)
    WebhookDelivery.objects.create(message=message, endpoint=endpoint, attempt=2, ok=False, error="refused: private")
    text = client.get("/metrics").content.decode()
    assert metric(text, 'maestro_approval_requests_open{state="review"}') == 1
    assert metric(text, 'maestro_approval_requests_open{state="submitted"}') == 0
    assert metric(text, 'maestro_approval_requests{state="rejected"}') == 1
    assert metric(text, "maestro_approval_decision_seconds_count") == 1
    assert metric(text, 'maestro_approval_decision_seconds_bucket{le="3600.0"}') == 1
    assert metric(text, 'maestro_webhook_deliveries_total{outcome="delivered"}') == 1
    assert metric(text, 'maestro_webhook_deliveries_total{outcome="refused"}') == 1


def test_the_approval_state_is_a_tag_of_the_mlflow_version(team, settings):
    approval_id = to_state(team, "review")
    with pytest.raises(MirrorRetry, match="not registered in MLflow yet"):
        approval_state_mirror(version_id=team.version.pk)
    registered_model = registered_model_mlflow_sync(registered_model_id=team.version.registered_model_id)
    assert approval_state_mirror(version_id=team.version.pk) == "review"
    team.version.refresh_from_db()
    mlflow = MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI, registry_uri=settings.MLFLOW_REGISTRY_URI)
    remote = mlflow.get_model_version(registered_model.mlflow_name, team.version.mlflow_version)
    assert remote.tags["maestro.approval_state"] == "review"
    assert remote.tags["maestro.approval_request_id"] == str(approval_id)
    assert "production" not in (mlflow.get_registered_model(registered_model.mlflow_name).aliases or {})
