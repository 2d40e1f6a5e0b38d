"""Session sign-in and sign-out pages: CSRF, redirects, audit, rate limits."""

import re

import pytest
from django.test import Client

from apps.core.models import AuditLogEntry
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import away_from_window_edges

pytestmark = pytest.mark.django_db


def csrf_token_of(response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode()).group(1)


def test_login_page_renders_a_form_with_csrf():
    browser = Client(enforce_csrf_checks=True)
    response = browser.get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<form" in html and 'name="password"' in html
    assert csrf_token_of(response)
    assert "<script>" not in html and "style=" not in html  # nothing a strict CSP would block


def test_signing_in_through_the_page_starts_a_session_and_is_audited():
    user = UserFactory()
    browser = Client(enforce_csrf_checks=True)
    token = csrf_token_of(browser.get("/accounts/login/"))
    response = browser.post(
        "/accounts/login/", {"username": user.username, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    assert browser.get("/api/v1/auth/me").json()["username"] == user.username
    entry = AuditLogEntry.objects.get(action="auth.login")
    assert entry.actor == user and entry.data["channel"] == "web"


def test_login_without_csrf_token_is_refused_and_audited():
    user = UserFactory()
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 403
    assert AuditLogEntry.objects.filter(action="access.denied", data__path="/accounts/login/").exists()


def test_wrong_password_on_the_page_shows_an_error_and_is_audited():
    user = UserFactory()
    response = Client().post("/accounts/login/", {"username": user.username, "password": "wrong-wrong-1"})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert AuditLogEntry.objects.get(action="auth.login_failed").actor_username == user.username


def test_page_login_is_rate_limited_like_the_api(settings):
    settings.RATELIMIT_LOGIN = "2/m"
    user = UserFactory()
    away_from_window_edges("127.0.0.1", user.username.casefold())
    browser = Client()
    for _ in range(2):
        assert (
            browser.post("/accounts/login/", {"username": user.username, "password": "bad-pass-123"}).status_code == 200
        )
    blocked = browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert blocked.status_code == 429
    assert 1 <= int(blocked["Retry-After"]) <= 60
    assert "Too many" in blocked.content.decode()
    assert AuditLogEntry.objects.filter(action="auth.login_rate_limited").count() == 1


def test_logout_page_asks_then_signs_out_with_post():
    user = UserFactory()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    page = browser.get("/accounts/logout/")
    assert page.status_code == 200 and "Sign out" in page.content.decode()
    response = browser.post("/accounts/logout/", {"csrfmiddlewaretoken": csrf_token_of(page)})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert browser.get("/api/v1/auth/me").status_code in (401, 403)
    entry = AuditLogEntry.objects.get(action="auth.logout")
    assert entry.actor == user and entry.data["channel"] == "web"


def test_deactivated_users_session_stops_at_once():
    admin, user = UserFactory(roles=["admin"]), UserFactory()
    browser = Client()
    browser.force_login(user)
    assert browser.get("/api/v1/auth/me").status_code == 200
    from apps.accounts.services import user_deactivate

    user_deactivate(actor=admin, user=user)
    assert browser.get("/api/v1/auth/me").status_code in (401, 403)
