"""Behind the proxy each client keeps its own address: rate limits and audit entries use the address the
trusted proxy saw, never one a client wrote into a header, and the deployment files configure it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.test import RequestFactory

from apps.core.clientip import client_ip
from apps.core.models import AuditLogEntry
from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
LOGIN = "/api/v1/auth/login"


def ip_of(**meta) -> str | None:
    request = RequestFactory().get("/", **meta)
    return client_ip(request)


def test_forwarded_for_gives_the_address_the_trusted_proxy_appended(settings):
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.CLIENT_IP_TRUSTED_PROXIES = 1
    # The client wrote "6.6.6.6" itself; nginx appended the address it saw.
    assert ip_of(HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9", REMOTE_ADDR="10.0.0.2") == "203.0.113.9"
    assert ip_of(HTTP_X_FORWARDED_FOR="203.0.113.9", REMOTE_ADDR="10.0.0.2") == "203.0.113.9"


def test_with_two_trusted_proxies_the_second_entry_from_the_right_is_the_client(settings):
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.CLIENT_IP_TRUSTED_PROXIES = 2
    chain = "6.6.6.6, 198.51.100.20, 10.1.2.3"  # forged, client (seen by the edge), the edge proxy
    assert ip_of(HTTP_X_FORWARDED_FOR=chain, REMOTE_ADDR="10.0.0.2") == "198.51.100.20"


def test_a_malformed_entry_where_the_client_should_be_is_no_address(settings):
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.CLIENT_IP_TRUSTED_PROXIES = 1
    assert ip_of(HTTP_X_FORWARDED_FOR="203.0.113.9, not-an-ip", REMOTE_ADDR="10.0.0.2") == "10.0.0.2"


def test_real_ip_header_is_used_as_the_proxy_wrote_it(settings):
    settings.CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    assert ip_of(HTTP_X_REAL_IP="192.0.2.55", REMOTE_ADDR="10.0.0.2") == "192.0.2.55"
    assert ip_of(REMOTE_ADDR="10.0.0.2") == "10.0.0.2"  # straight to the app, no proxy in between


def test_five_bad_logins_from_one_client_do_not_lock_out_another_behind_the_same_proxy(api_client, settings):
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.CLIENT_IP_TRUSTED_PROXIES = 1
    settings.RATELIMIT_LOGIN = "5/m"
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for attempt in range(5):
        # An attacker rotating a forged first entry still counts as one address.
        body = {"username": f"guess{attempt}", "password": "wrong-password-1"}
        forged = {"HTTP_X_FORWARDED_FOR": f"10.9.9.{attempt}, 203.0.113.66", **proxy}
        assert api_client.post(LOGIN, body, **forged).status_code == 401
    attacker = {"HTTP_X_FORWARDED_FOR": "10.9.9.99, 203.0.113.66", **proxy}
    assert api_client.post(LOGIN, {"username": "guess9", "password": "x-wrong-password"}, **attacker).status_code == 429
    user = UserFactory()
    victim = {"HTTP_X_FORWARDED_FOR": "198.51.100.7", **proxy}
    response = api_client.post(LOGIN, {"username": user.username, "password": PASSWORD}, **victim)
    assert response.status_code == 200, response.json()
    assert AuditLogEntry.objects.filter(action="auth.login").get().ip_address == "198.51.100.7"


def compose_environment(service: str) -> dict:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["services"][service].get("environment") or {}
    return env if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def test_compose_and_kubernetes_name_the_header_their_proxy_writes():
    nginx = (ROOT / "deploy" / "nginx" / "maestro.conf").read_text()
    assert "proxy_set_header X-Real-IP $remote_addr;" in nginx
    assert compose_environment("web").get("DJANGO_CLIENT_IP_HEADER") == "HTTP_X_REAL_IP"
    configmap = yaml.safe_load((ROOT / "deploy" / "k8s" / "base" / "configmap.yaml").read_text())
    assert configmap["data"]["DJANGO_CLIENT_IP_HEADER"] == "HTTP_X_REAL_IP"
