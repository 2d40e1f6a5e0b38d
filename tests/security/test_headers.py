"""Security headers on API and page responses, CORS closed by default, production transport settings."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import LOGIN, ME, bearer, login

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def assert_security_headers(response):
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_api_responses_carry_security_headers(api_client):
    tokens = login(api_client, UserFactory().username)
    assert_security_headers(api_client.get(ME, **bearer(tokens["access"])))
    assert_security_headers(api_client.get(ME))  # 401 too
    assert_security_headers(api_client.post(LOGIN, {"username": "x", "password": "y-wrong-123"}))


def test_page_responses_carry_security_headers(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert_security_headers(response)


def test_session_and_csrf_cookies_of_a_page_sign_in(client):
    user = UserFactory()
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    session = client.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"


def test_cors_is_closed_by_default(api_client):
    preflight = api_client.options(LOGIN, HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in preflight
    simple = api_client.get(ME, HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in simple


def test_cors_opens_only_to_configured_origins(api_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.org"]
    allowed = api_client.options(
        LOGIN, HTTP_ORIGIN="https://app.example.org", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.org"
    assert "Access-Control-Allow-Credentials" not in allowed
    other = api_client.options(LOGIN, HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in other


PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "DJANGO_ALLOWED_HOSTS": "maestro.example.org",
    "DATABASE_URL": "postgres://maestro:Zq8vN3kP2xLm@db:5432/maestro",
    "CELERY_BROKER_URL": "redis://redis:6379/0",
    "CELERY_RESULT_BACKEND": "redis://redis:6379/1",
    "CACHE_URL": "redis://redis:6379/2",
    "AWS_ACCESS_KEY_ID": "AKIA" + secrets.token_hex(8).upper(),
    "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
    "MLFLOW_TRACKING_URI": "http://mlflow:5000",
}

PROBE = """
import json, django
django.setup()
from django.conf import settings as s
from django.test import Client
secure = Client().get("/api/v1/auth/me", secure=True, HTTP_HOST="maestro.example.org")
plain = Client().get("/api/v1/auth/me", HTTP_HOST="maestro.example.org")
print(json.dumps({
    "secure_status": secure.status_code,
    "hsts": secure.get("Strict-Transport-Security"),
    "csrf_cookie_secure": s.CSRF_COOKIE_SECURE,
    "session_cookie_secure": s.SESSION_COOKIE_SECURE,
    "plain_http_status": plain.status_code,
    "plain_http_location": plain.get("Location"),
    "cors": s.CORS_ALLOWED_ORIGINS,
    "csp": secure.get("Content-Security-Policy"),
    "nosniff": secure.get("X-Content-Type-Options"),
}))
"""


def test_production_sends_hsts_and_secure_cookies_and_redirects_http():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "CELERY_", "CACHE_URL"))}
    env.update(PRODUCTION_ENV)
    env["DATA_DIR"] = str(ROOT / "var" / "test" / "settings-check")
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["secure_status"] == 401
    assert probe["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert probe["csrf_cookie_secure"] is True and probe["session_cookie_secure"] is True
    assert probe["plain_http_status"] == 301
    assert probe["plain_http_location"] == "https://maestro.example.org/api/v1/auth/me"
    assert probe["cors"] == []
    assert "default-src 'self'" in probe["csp"] and probe["nosniff"] == "nosniff"
