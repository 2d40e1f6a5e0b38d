"""A reused (already rotated) refresh token ends every token of the account, and refresh rotation cannot
keep a session alive past its absolute lifetime (JWT_SESSION_LIFETIME, counted from the sign-in)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from apps.accounts import services
from apps.core.models import AuditLogEntry
from tests.accounts.factories import UserFactory
from tests.accounts.helpers import ME, REFRESH, bearer, login

pytestmark = pytest.mark.django_db


def refresh(api_client, token: str):
    return api_client.post(REFRESH, {"refresh": token}, format="json")


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(api_client):
    user = UserFactory()
    stolen = login(api_client, user.username)
    rotated = refresh(api_client, stolen["refresh"]).json()  # the legitimate client rotates
    assert api_client.get(ME, **bearer(rotated["access"])).status_code == 200

    assert refresh(api_client, stolen["refresh"]).status_code == 401  # the thief replays the old one
    assert refresh(api_client, rotated["refresh"]).status_code == 401
    assert api_client.get(ME, **bearer(rotated["access"])).status_code == 401
    assert api_client.get(ME, **bearer(stolen["access"])).status_code == 401
    first, again = AuditLogEntry.objects.filter(action="auth.refresh_reused").order_by("id")
    assert first.actor == user and first.data["refresh_tokens_revoked"] == 1  # the successor
    assert again.data["refresh_tokens_revoked"] == 0 and again.data["session"] == first.data["session"]


def test_other_accounts_keep_their_tokens_when_one_family_is_revoked(api_client):
    victim, bystander = UserFactory(), UserFactory()
    stolen = login(api_client, victim.username)
    theirs = login(api_client, bystander.username)
    refresh(api_client, stolen["refresh"])
    refresh(api_client, stolen["refresh"])
    assert api_client.get(ME, **bearer(theirs["access"])).status_code == 200
    assert refresh(api_client, theirs["refresh"]).status_code == 200


def test_signing_in_again_after_a_revocation_works(api_client):
    user = UserFactory()
    stolen = login(api_client, user.username)
    refresh(api_client, stolen["refresh"])
    refresh(api_client, stolen["refresh"])
    fresh = login(api_client, user.username)
    assert api_client.get(ME, **bearer(fresh["access"])).status_code == 200
    assert refresh(api_client, fresh["refresh"]).status_code == 200


def test_rotation_carries_the_sign_in_time_and_never_outlives_the_session(api_client, settings):
    settings.JWT_SESSION_LIFETIME = timedelta(minutes=30)
    tokens = login(api_client, UserFactory().username)
    first = RefreshToken(tokens["refresh"])
    auth_time = first["auth_time"]
    assert abs(auth_time - first["iat"]) <= 1
    assert first["exp"] <= auth_time + 30 * 60
    rotated = refresh(api_client, tokens["refresh"]).json()
    second, access = RefreshToken(rotated["refresh"]), AccessToken(rotated["access"])
    assert second["auth_time"] == auth_time == access["auth_time"]
    assert second["exp"] <= auth_time + 30 * 60 and access["exp"] <= auth_time + 30 * 60


def test_a_session_older_than_its_lifetime_cannot_be_refreshed(api_client, settings, monkeypatch):
    settings.JWT_SESSION_LIFETIME = timedelta(days=7)
    tokens = login(api_client, UserFactory().username)
    token = tokens["refresh"]
    real_now = timezone.now()
    for days in (2, 4, 6):  # an active client rotating every other day stays signed in ...
        monkeypatch.setattr(services.timezone, "now", lambda days=days: real_now + timedelta(days=days))
        response = refresh(api_client, token)
        assert response.status_code == 200, response.json()
        token = response.json()["refresh"]
    monkeypatch.setattr(services.timezone, "now", lambda: real_now + timedelta(days=7, minutes=1))
    response = refresh(api_client, token)  # ... but not past a week after signing in
    assert response.status_code == 401
    assert "sign in again" in response.json()["detail"]


def test_revoking_an_accounts_tokens_ends_its_sessions_and_they_stay_ended_after_reactivation(api_client):
    from django.test import Client

    admin, user = UserFactory(roles=["admin"]), UserFactory()
    tokens = login(api_client, user.username)
    browser = Client()
    browser.force_login(user)
    services.user_deactivate(actor=admin, user=user)
    services.user_reactivate(actor=admin, user=user)
    assert browser.get(ME).status_code in (401, 403)
    assert api_client.get(ME, **bearer(tokens["access"])).status_code == 401
    assert refresh(api_client, tokens["refresh"]).status_code == 401
