"""Small helpers for API tests: sign in through the real endpoint and send bearer tokens."""

from __future__ import annotations

import time
import zlib

from rest_framework.test import APIClient

from tests.accounts.factories import PASSWORD

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
REGISTER = "/api/v1/auth/register"
USERS = "/api/v1/users"


def login(client: APIClient, username: str, password: str = PASSWORD, **extra) -> dict:
    response = client.post(LOGIN, {"username": username, "password": password}, format="json", **extra)
    assert response.status_code == 200, response.content
    return response.json()


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def client_for(user) -> APIClient:
    """An API client signed in as ``user`` with a real access token from ``auth/login``."""
    client = APIClient()
    tokens = login(client, user.username)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    client.tokens = tokens
    return client


def seconds_to_window_end(value: str, period: int) -> int:
    """When django-ratelimit's window for the key ``value`` ends (its windows are jittered per key)."""
    now = int(time.time())
    end = now - (now % period) + (zlib.crc32(value.encode()) % period)
    return (end + period if end < now else end) - now


def away_from_window_edges(*values: str, period: int = 60, margin: int = 3) -> None:
    """Wait while a rate-limit window of ``values`` is about to end, so a test's requests share one window."""
    while min(seconds_to_window_end(value, period) for value in values) < margin:
        time.sleep(0.5)
