"""Small helpers for API tests: sign in through the real endpoint and send bearer tokens."""

from __future__ import annotations

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
