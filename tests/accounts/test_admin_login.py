"""/admin/login/ has the limits and the audit entries of auth/login and the page sign-in."""

import pytest
from django.test import Client

from apps.core.models import AuditLogEntry
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import LOGIN, away_from_window_edges

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/"


def test_admin_sign_in_works_and_is_audited():
    admin = UserFactory(roles=["admin"], is_staff=True)
    browser = Client()
    response = browser.post(f"{ADMIN_LOGIN}?next=/admin/", {"username": admin.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert browser.get("/admin/").status_code == 200
    entry = AuditLogEntry.objects.get(action="auth.login")
    assert entry.actor == admin and entry.data["channel"] == "admin" and entry.ip_address == "127.0.0.1"


def test_a_wrong_admin_password_is_audited_with_the_claimed_name():
    admin = UserFactory(roles=["admin"], is_staff=True)
    response = Client().post(ADMIN_LOGIN, {"username": admin.username, "password": "wrong-wrong-1"})
    assert response.status_code == 200 and "errornote" in response.content.decode()
    entry = AuditLogEntry.objects.get(action="auth.login_failed")
    assert entry.actor_username == admin.username and entry.data["channel"] == "admin"


def test_a_non_staff_account_refused_by_the_admin_is_audited_as_a_failed_sign_in():
    viewer = UserFactory(roles=["viewer"])
    browser = Client()
    response = browser.post(ADMIN_LOGIN, {"username": viewer.username, "password": PASSWORD})
    assert response.status_code == 200
    assert AuditLogEntry.objects.get(action="auth.login_failed").actor_username == viewer.username
    assert not AuditLogEntry.objects.filter(action="auth.login").exists()


def test_admin_login_is_rate_limited_like_the_api(settings):
    settings.RATELIMIT_LOGIN = "3/m"
    admin = UserFactory(roles=["admin"], is_staff=True)
    away_from_window_edges("127.0.0.1", admin.username.casefold())
    browser = Client()
    for _ in range(3):
        assert browser.post(ADMIN_LOGIN, {"username": admin.username, "password": "bad-pass-123"}).status_code == 200
    blocked = browser.post(ADMIN_LOGIN, {"username": admin.username, "password": PASSWORD})
    assert blocked.status_code == 429
    assert 1 <= int(blocked["Retry-After"]) <= 60
    assert "Too many" in blocked.content.decode()
    assert not browser.get("/admin/").status_code == 200  # the right password did not get through
    entry = AuditLogEntry.objects.get(action="auth.login_rate_limited")
    assert entry.data["channel"] == "admin" and entry.actor_username == admin.username


def test_admin_and_api_sign_ins_count_against_the_same_limits(api_client, settings):
    settings.RATELIMIT_LOGIN = "2/m"
    admin = UserFactory(roles=["admin"], is_staff=True)
    away_from_window_edges("127.0.0.1", admin.username.casefold())
    for _ in range(2):
        api_client.post(LOGIN, {"username": admin.username, "password": "bad-pass-123"}, format="json")
    blocked = Client().post(ADMIN_LOGIN, {"username": admin.username, "password": PASSWORD})
    assert blocked.status_code == 429


def test_the_admin_login_page_still_renders_and_redirects_a_signed_in_admin():
    assert Client().get(ADMIN_LOGIN).status_code == 200
    browser = Client()
    browser.force_login(UserFactory(roles=["admin"], is_staff=True))
    response = browser.get(ADMIN_LOGIN)
    assert response.status_code == 302 and response["Location"] == "/admin/"
