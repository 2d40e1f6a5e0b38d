"""Only a superuser may change a superuser (admin change and password views, and the API); a password
change anywhere ends the account's tokens and sessions and is audited."""

import pytest
from django.test import Client

from apps.accounts import services
from apps.accounts.models import User
from apps.core.exceptions import PermissionDenied, ValidationError
from apps.core.models import AuditLogEntry
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import ME, REFRESH, USERS, bearer, client_for, login

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Another-Long-Passphrase-77"


def browser_for(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def root():
    return UserFactory(roles=["admin"], is_superuser=True, is_staff=True)


@pytest.fixture
def admin_role():
    """An administrator by role (users:manage), not a superuser."""
    return UserFactory(roles=["admin"], is_staff=True)


def password_form(password: str = NEW_PASSWORD) -> dict:
    return {"password1": password, "password2": password, "usable_password": "true", "set_usable_password": "true"}


def test_an_admin_role_cannot_set_a_superusers_password_in_the_admin(root, admin_role):
    browser = browser_for(admin_role)
    assert browser.get(f"/admin/accounts/user/{root.pk}/password/").status_code == 403
    assert browser.post(f"/admin/accounts/user/{root.pk}/password/", password_form()).status_code == 403
    root.refresh_from_db()
    assert root.check_password(PASSWORD) and not root.check_password(NEW_PASSWORD)


def test_an_admin_role_cannot_change_a_superuser_in_the_admin(root, admin_role):
    browser = browser_for(admin_role)
    response = browser.post(
        f"/admin/accounts/user/{root.pk}/change/",
        {"username": root.username, "email": "taken-over@example.org", "roles": ["admin"], "is_active": "on"},
    )
    assert response.status_code == 403
    root.refresh_from_db()
    assert root.email != "taken-over@example.org"
    assert browser.get(f"/admin/accounts/user/{root.pk}/change/").status_code == 200  # may still look
    assert browser.get("/admin/accounts/user/").status_code == 200


def test_an_admin_role_cannot_change_a_superusers_roles_or_activation_through_the_api(root, admin_role):
    client = client_for(admin_role)
    assert client.patch(f"{USERS}/{root.pk}/roles", {"roles": ["viewer"]}, format="json").status_code == 403
    assert client.delete(f"{USERS}/{root.pk}").status_code == 403
    root.refresh_from_db()
    assert root.is_active and root.roles == ["admin"]


def test_a_password_set_in_the_admin_ends_the_users_tokens_and_sessions(admin_role, api_client):
    user = UserFactory(roles=["viewer"])
    tokens = login(api_client, user.username)
    their_browser = browser_for(user)
    assert their_browser.get(ME).status_code == 200
    response = browser_for(admin_role).post(f"/admin/accounts/user/{user.pk}/password/", password_form())
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert api_client.get(ME, **bearer(tokens["access"])).status_code == 401
    assert api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401
    assert their_browser.get(ME).status_code in (401, 403)
    entry = AuditLogEntry.objects.get(action="user.password_changed")
    assert entry.actor == admin_role and entry.target_id == str(user.pk) and entry.data["channel"] == "admin"
    assert login(api_client, user.username, NEW_PASSWORD)["access"]


def test_a_superuser_may_set_another_superusers_password(root):
    other = UserFactory(roles=["admin"], is_superuser=True, is_staff=True)
    response = browser_for(root).post(f"/admin/accounts/user/{other.pk}/password/", password_form())
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.check_password(NEW_PASSWORD)


def test_changing_ones_own_password_in_the_admin_keeps_that_session(admin_role):
    browser = browser_for(admin_role)
    assert browser.post(f"/admin/accounts/user/{admin_role.pk}/password/", password_form()).status_code == 302
    assert browser.get("/admin/").status_code == 200


def test_the_password_service_validates_revokes_and_audits(root, admin_role, api_client):
    user = UserFactory()
    tokens = login(api_client, user.username)
    with pytest.raises(ValidationError):
        services.user_password_set(actor=admin_role, user=user, password="short")
    with pytest.raises(PermissionDenied):
        services.user_password_set(actor=admin_role, user=root, password=NEW_PASSWORD)
    services.user_password_set(actor=admin_role, user=user, password=NEW_PASSWORD, ip="192.0.2.1")
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)
    assert api_client.get(ME, **bearer(tokens["access"])).status_code == 401
    assert api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401
    entry = AuditLogEntry.objects.get(action="user.password_changed")
    assert entry.actor == admin_role and entry.ip_address == "192.0.2.1" and entry.data["refresh_tokens_revoked"] == 1
