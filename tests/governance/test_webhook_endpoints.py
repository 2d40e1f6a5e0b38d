"""Per-project webhooks: the endpoints API (owners, secret shown once), signed delivery to a local server, a retry
after a 500 with the same webhook-id, an endpoint disabled after N failures in a row, and the destination guard
refusing internal addresses after DNS (no traffic ever leaves this machine)."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from apps.governance import webhooks
from apps.governance.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from apps.governance.notify import webhook_message_deliver
from tests.governance.factories import WebhookEndpointFactory, move, submit
from tests.governance.test_webhooks import LocalServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch) -> Iterator[list]:
    """Refuse, and fail the test on, any TCP connection that is not to a loopback address."""
    blocked: list = []
    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            if not ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback:
                blocked.append(address)
                raise ConnectionRefusedError(f"test guard: no traffic to {address[0]}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield blocked
    assert blocked == [], f"connections were attempted off this machine: {blocked}"


@pytest.fixture
def server():
    servers: list[LocalServer] = []

    def start(statuses: list[int]) -> LocalServer:
        answers = iter(statuses)

        def respond(handler: BaseHTTPRequestHandler) -> None:
            code = next(answers, statuses[-1])
            handler.send_response(code)
            handler.send_header("content-length", "2")
            handler.end_headers()
            handler.wfile.write(b"ok")

        local = LocalServer(respond)
        servers.append(local)
        return local

    yield start
    for local in servers:
        local.stop()


def hooks_url(team) -> str:
    return f"/api/v1/projects/{team.project.pk}/webhooks"


def test_owners_add_list_and_remove_endpoints_and_see_the_secret_once(team, api_client):
    owner = team.client("author")
    created = owner.post(hooks_url(team), {"url": "https://hooks.example.org/a", "description": "chat"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["state"] == "active"
    listed = owner.get(hooks_url(team)).json()["results"]
    assert [row["id"] for row in listed] == [body["id"]] and "secret" not in listed[0]
    detail = owner.get(f"{hooks_url(team)}/{body['id']}")
    assert detail.status_code == 200 and detail.json()["recent_deliveries"] == [] and "secret" not in detail.json()
    assert owner.delete(f"{hooks_url(team)}/{body['id']}").status_code == 204
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://hooks.example.org/a", "only http and https"),
        ("http://user:pw@hooks.example.org/a", "credentials"),
        ("https://10.0.0.1/a", "not a public address"),
        ("https://169.254.169.254/latest/meta-data", "not a public address"),
    ],
)
def test_unsafe_urls_are_refused_when_added(team, settings, url, reason):
    settings.GOVERNANCE_WEBHOOK_ALLOWED_NETWORKS = []
    response = team.client("author").post(hooks_url(team), {"url": url}, format="json")
    assert response.status_code == 400 and "url" in response.json(), response.content


def test_only_owners_manage_webhooks(team, api_client):
    endpoint = WebhookEndpointFactory(project=team.project)
    for who in ("engineer", "reviewer", "viewer"):
        assert team.client(who).get(hooks_url(team)).status_code == 403
        assert (
            team.client(who).post(hooks_url(team), {"url": "https://x.example.org"}, format="json").status_code == 403
        )
        assert team.client(who).delete(f"{hooks_url(team)}/{endpoint.pk}").status_code == 403
    assert team.client("outsider").get(hooks_url(team)).status_code == 404
    assert team.client("outsider").delete(f"{hooks_url(team)}/{endpoint.pk}").status_code == 404
    assert team.client("author").get(f"{hooks_url(team)}/999999").status_code == 404
    assert api_client.get(hooks_url(team)).status_code == 401
    assert team.client("admin").get(hooks_url(team)).status_code == 200  # platform admins act as owners


def the_message(team) -> WebhookMessage:
    return WebhookMessage.objects.get(request__model_version=team.version)


def test_an_event_is_delivered_signed_with_a_slack_text(team, server):
    local = server([200])
    endpoint = WebhookEndpointFactory(project=team.project, url=local.url())
    approval_id = submit(team.client("engineer"), team.version, comment="v1").json()["id"]
    message = webhook_message_deliver(message_id=the_message(team).pk)
    assert message.status == "succeeded"
    (received,) = local.requests
    assert webhooks.verify(secret=endpoint.secret, headers=received.headers, body=received.body)
    assert received.headers["webhook-id"] == message.msg_id
    document = json.loads(received.body)
    assert document["type"] == "approval.submit"
    assert document["data"]["approval_request_id"] == approval_id and document["data"]["comment"] == "v1"
    assert "submitted for approval" in document["text"]
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.ok and delivery.status_code == 200 and delivery.peer_ip == "127.0.0.1"


def test_a_failed_delivery_is_retried_with_the_same_id_and_a_new_signature(team, server):
    local = server([500, 200])
    endpoint = WebhookEndpointFactory(project=team.project, url=local.url())
    submit(team.client("engineer"), team.version)
    message_id = the_message(team).pk
    first = webhook_message_deliver(message_id=message_id)
    assert first.status == "queued" and first.next_attempt_at is not None and "500" in first.error
    WebhookMessage.objects.filter(pk=message_id).update(next_attempt_at=None)  # due now
    second = webhook_message_deliver(message_id=message_id)
    assert second.status == "succeeded" and second.attempts == 2
    assert [r.headers["webhook-id"] for r in local.requests] == [second.msg_id, second.msg_id]
    assert all(webhooks.verify(secret=endpoint.secret, headers=r.headers, body=r.body) for r in local.requests)
    attempts = list(WebhookDelivery.objects.order_by("attempt").values_list("attempt", "ok", "status_code"))
    assert attempts == [(1, False, 500), (2, True, 200)]
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and endpoint.last_success_at is not None


def test_an_endpoint_failing_n_times_in_a_row_is_disabled_and_shown_so(team, server, settings):
    settings.GOVERNANCE_WEBHOOK_MAX_CONSECUTIVE_FAILURES = 3
    local = server([500])
    endpoint = WebhookEndpointFactory(project=team.project, url=local.url())
    approval_id = submit(team.client("engineer"), team.version).json()["id"]
    message_id = the_message(team).pk
    for _ in range(3):
        WebhookMessage.objects.filter(pk=message_id).update(next_attempt_at=None)
        message = webhook_message_deliver(message_id=message_id)
    assert message.status == "failed" and WebhookDelivery.objects.count() == 3
    shown = team.client("author").get(f"{hooks_url(team)}/{endpoint.pk}").json()
    assert shown["state"] == "disabled" and "3 consecutive failed deliveries" in shown["disabled_reason"]
    assert len(shown["recent_deliveries"]) == 3
    move(team.client("reviewer"), approval_id, "start_review")
    assert WebhookMessage.objects.count() == 1  # nothing more goes to a disabled endpoint
    enabled = team.client("author").patch(f"{hooks_url(team)}/{endpoint.pk}", {"is_active": True}, format="json")
    assert enabled.json()["state"] == "active" and enabled.json()["consecutive_failures"] == 0


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254"])
def test_a_name_resolving_to_an_internal_address_is_refused_unless_allowed(team, settings, monkeypatch, address):
    settings.GOVERNANCE_WEBHOOK_ALLOWED_NETWORKS = []
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host == "hooks.internal.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 80))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    WebhookEndpointFactory(project=team.project, url="http://hooks.internal.test/hook")
    submit(team.client("engineer"), team.version)
    message = webhook_message_deliver(message_id=the_message(team).pk)
    (delivery,) = WebhookDelivery.objects.all()
    assert not delivery.ok and delivery.status_code is None and delivery.error.startswith("refused")
    assert address in delivery.error and message.status == "queued"
