"""With a real Celery worker and broker: testing queues the checks, which run in the background (a holdout threshold
above the model's score fails, and approve is refused naming it), and a webhook is delivered by the worker, retried
after a 500 with backoff."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler

import pytest

from apps.governance import webhooks
from apps.governance.models import ApprovalRequest, WebhookDelivery, WebhookMessage
from apps.governance.services import approval_policy_update
from tests.governance.factories import WebhookEndpointFactory, move, submit
from tests.governance.test_webhooks import LocalServer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(condition, timeout: float = 90, what: str = "the worker"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what} did not finish in {timeout} s")


def test_checks_run_on_the_worker_and_a_webhook_is_delivered_and_retried(
    celery_worker, role_groups, no_explanations_queued, team
):
    statuses = iter([500])

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(next(statuses, 200))
        handler.send_header("content-length", "0")
        handler.end_headers()

    local = LocalServer(respond)
    try:
        approval_policy_update(project=team.project, user=team.author, holdout_metric="accuracy", holdout_min_score=2.0)
        endpoint = WebhookEndpointFactory(project=team.project, url=local.url())
        approval_id = submit(team.client("engineer"), team.version).json()["id"]
        reviewer = team.client("reviewer")
        move(reviewer, approval_id, "start_review")
        assert move(reviewer, approval_id, "start_testing").json()["checks_status"] == "pending"

        approval = wait_for(
            lambda: ApprovalRequest.objects.filter(pk=approval_id).exclude(checks_status="pending").first(),
            what="the check run",
        )
        checks = {check["name"]: check["status"] for check in approval.checks}
        assert checks["artifact_hash"] == "passed" and checks["holdout_score"] == "failed", approval.checks
        refused = move(reviewer, approval_id, "approve")
        assert refused.status_code == 409 and "failed: holdout_score" in refused.json()["detail"]

        first = WebhookMessage.objects.filter(request_id=approval_id, event="approval.submit").get()
        wait_for(lambda: WebhookMessage.objects.filter(pk=first.pk, status="succeeded").exists(), what="the delivery")
        attempts = list(
            WebhookDelivery.objects.filter(message=first).order_by("attempt").values_list("attempt", "status_code")
        )
        assert attempts == [(1, 500), (2, 200)]
        received = [r for r in local.requests if r.headers.get("webhook-id") == first.msg_id]
        assert len(received) == 2
        assert all(webhooks.verify(secret=endpoint.secret, headers=r.headers, body=r.body) for r in received)
    finally:
        local.stop()
