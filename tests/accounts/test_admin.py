"""The Django admin: users with roles (changes audited), the audit log read-only."""

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.core.audit import audit_log_record
from apps.core.models import AuditLogEntry
from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser():
    admin = UserFactory(roles=["admin"], is_staff=True)
    browser = Client()
    browser.force_login(admin)
    browser.admin = admin
    return browser


def change_form_data(user: User, **overrides) -> dict:
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": user.email,
        "roles": user.roles,
        "is_active": "on" if user.is_active else "",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value not in ("", None)}


def test_admin_role_sees_users_and_the_audit_log(admin_browser):
    assert admin_browser.get("/admin/accounts/user/").status_code == 200
    assert admin_browser.get("/admin/core/auditlogentry/").status_code == 200


def test_non_admins_do_not_get_the_user_admin():
    engineer = UserFactory(roles=["ml_engineer"], is_staff=True)
    browser = Client()
    browser.force_login(engineer)
    assert browser.get("/admin/accounts/user/").status_code == 403
    assert browser.get("/admin/core/auditlogentry/").status_code == 403


def test_role_change_in_the_admin_goes_through_the_service_and_is_audited(admin_browser):
    user = UserFactory(roles=["viewer"])
    response = admin_browser.post(f"/admin/accounts/user/{user.pk}/change/", change_form_data(user, roles=["reviewer"]))
    assert response.status_code == 302, response.content.decode()[:3000]
    user.refresh_from_db()
    assert user.roles == ["reviewer"]
    entry = AuditLogEntry.objects.get(action="user.roles_changed")
    assert entry.actor == admin_browser.admin and entry.data["after"] == ["reviewer"]


def test_deactivation_in_the_admin_revokes_tokens_and_is_audited(admin_browser, api_client):
    user = UserFactory()
    refresh = api_client.post("/api/v1/auth/login", {"username": user.username, "password": PASSWORD}).json()["refresh"]
    response = admin_browser.post(f"/admin/accounts/user/{user.pk}/change/", change_form_data(user, is_active=""))
    assert response.status_code == 302
    user.refresh_from_db()
    assert not user.is_active
    assert AuditLogEntry.objects.filter(action="user.deactivated", target_id=str(user.pk)).exists()
    assert api_client.post("/api/v1/auth/refresh", {"refresh": refresh}).status_code == 401

    response = admin_browser.post(f"/admin/accounts/user/{user.pk}/change/", change_form_data(user, is_active="on"))
    assert response.status_code == 302
    assert AuditLogEntry.objects.filter(action="user.reactivated", target_id=str(user.pk)).exists()


def test_the_admin_refuses_to_remove_the_last_admin(admin_browser):
    admin = admin_browser.admin
    response = admin_browser.post(f"/admin/accounts/user/{admin.pk}/change/", change_form_data(admin, roles=["viewer"]))
    assert response.status_code == 200
    assert "at least one active administrator" in response.content.decode()
    admin.refresh_from_db()
    assert admin.roles == ["admin"]


def test_adding_a_user_in_the_admin_validates_the_password_and_sets_roles(admin_browser):
    weak = admin_browser.post(
        "/admin/accounts/user/add/",
        {"username": "weakling", "email": "w@example.org", "password1": "123", "password2": "123", "roles": ["viewer"]},
    )
    assert weak.status_code == 200 and not User.objects.filter(username="weakling").exists()
    response = admin_browser.post(
        "/admin/accounts/user/add/",
        {"username": "newbie", "email": "n@example.org", "password1": PASSWORD, "password2": PASSWORD,
         "roles": ["ml_engineer"]},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    assert User.objects.get(username="newbie").roles == ["ml_engineer"]


def test_users_cannot_be_deleted_in_the_admin(admin_browser):
    user = UserFactory()
    assert admin_browser.get(f"/admin/accounts/user/{user.pk}/delete/").status_code == 403


def test_audit_log_admin_is_read_only(admin_browser):
    entry = audit_log_record(actor=None, action="test.event")
    assert admin_browser.get(f"/admin/core/auditlogentry/{entry.pk}/change/").status_code == 200
    assert admin_browser.get("/admin/core/auditlogentry/add/").status_code == 403
    assert admin_browser.get(f"/admin/core/auditlogentry/{entry.pk}/delete/").status_code == 403
    admin_browser.post(f"/admin/core/auditlogentry/{entry.pk}/change/", {"action": "tampered"})
    assert AuditLogEntry.objects.get(pk=entry.pk).action == "test.event"
