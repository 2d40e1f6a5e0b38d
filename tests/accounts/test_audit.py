"""Auth events land in the append-only audit log with who, when and from which IP, on one line each."""

import logging

import pytest

from apps.core.audit import audit_log_record, sanitize_log_text
from apps.core.models import AuditLogEntry
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import LOGIN, LOGOUT, USERS, bearer, client_for, login

pytestmark = pytest.mark.django_db


def entries(action):
    return list(AuditLogEntry.objects.filter(action=action))


def test_successful_login_is_audited_with_user_time_and_ip(api_client):
    user = UserFactory()
    login(api_client, user.username, REMOTE_ADDR="203.0.113.7")
    [entry] = entries("auth.login")
    assert entry.actor == user and entry.actor_username == user.username
    assert entry.ip_address == "203.0.113.7"
    assert entry.created_at is not None
    assert entry.data["channel"] == "api"


def test_failed_login_is_audited_with_the_claimed_name(api_client):
    user = UserFactory()
    api_client.post(LOGIN, {"username": user.username, "password": "Nope-nope-123"}, REMOTE_ADDR="198.51.100.4")
    [entry] = entries("auth.login_failed")
    assert entry.actor is None
    assert entry.actor_username == user.username
    assert entry.ip_address == "198.51.100.4"


def test_client_ip_header_is_used_when_configured(api_client, settings):
    settings.CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    login(api_client, UserFactory().username, HTTP_X_REAL_IP="192.0.2.55", REMOTE_ADDR="10.0.0.2")
    assert entries("auth.login")[0].ip_address == "192.0.2.55"


def test_logout_is_audited(api_client):
    user = UserFactory()
    tokens = login(api_client, user.username)
    api_client.post(LOGOUT, {"refresh": tokens["refresh"]}, **bearer(tokens["access"]))
    [entry] = entries("auth.logout")
    assert entry.actor == user and entry.ip_address == "127.0.0.1"


def test_role_change_is_audited_with_before_and_after():
    admin, user = UserFactory(roles=["admin"]), UserFactory(roles=["viewer"])
    client_for(admin).patch(f"{USERS}/{user.pk}/roles", {"roles": ["ml_engineer", "reviewer"]})
    [entry] = entries("user.roles_changed")
    assert entry.actor == admin
    assert (entry.target_type, entry.target_id) == ("accounts.user", str(user.pk))
    assert entry.data["before"] == ["viewer"] and entry.data["after"] == ["ml_engineer", "reviewer"]
    assert entry.ip_address == "127.0.0.1"


def test_unchanged_roles_write_no_entry():
    admin, user = UserFactory(roles=["admin"]), UserFactory(roles=["viewer"])
    client_for(admin).patch(f"{USERS}/{user.pk}/roles", {"roles": ["viewer"]})
    assert entries("user.roles_changed") == []


def test_deactivation_and_creation_are_audited():
    admin = UserFactory(roles=["admin"])
    client = client_for(admin)
    created = client.post(
        USERS, {"username": "new", "email": "n@example.org", "password": PASSWORD, "roles": ["viewer"]}
    )
    client.delete(f"{USERS}/{created.json()['id']}")
    assert entries("user.created")[0].data["roles"] == ["viewer"]
    [deactivated] = entries("user.deactivated")
    assert deactivated.actor == admin and deactivated.target_id == str(created.json()["id"])


def test_forbidden_requests_are_audited():
    viewer = UserFactory(roles=["viewer"])
    response = client_for(viewer).get(USERS, REMOTE_ADDR="192.0.2.9")
    assert response.status_code == 403
    [entry] = entries("access.denied")
    assert entry.actor == viewer
    assert entry.data["path"] == USERS and entry.data["method"] == "GET"
    assert "users:manage" in entry.data["detail"]


def test_reusing_a_rotated_refresh_token_is_audited(api_client):
    user = UserFactory()
    tokens = login(api_client, user.username)
    api_client.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]})
    api_client.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]})
    [entry] = entries("auth.refresh_reused")
    assert entry.actor == user


def test_a_username_with_cr_lf_stays_on_one_log_line(api_client, caplog):
    forged = 'mallory\r\n2026-01-01 00:00:00 INFO maestro.audit audit action=auth.login actor="admin"'
    with caplog.at_level(logging.INFO, logger="maestro.audit"):
        response = api_client.post(LOGIN, {"username": forged, "password": "whatever-123"})
    assert response.status_code == 401
    [entry] = entries("auth.login_failed")
    assert "\r" not in entry.actor_username and "\n" not in entry.actor_username
    assert entry.actor_username.startswith("mallory\\r\\n2026")
    records = [record for record in caplog.records if record.name == "maestro.audit"]
    assert len(records) == 1
    line = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s").format(records[0])
    assert "\n" not in line and "\r" not in line
    assert "auth.login_failed" in line


def test_sanitize_escapes_every_control_character():
    assert sanitize_log_text("a\rb\nc\td\x00e\x1bf\u2028g") == "a\\rb\\nc\\td\\x00e\\x1bf\\u2028g"
    assert sanitize_log_text("x" * 300, max_length=150) == "x" * 149 + "…"


def test_audit_entries_are_append_only():
    entry = audit_log_record(actor=None, action="test.event", data={"k": "v"})
    entry.action = "changed"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    with pytest.raises(ValueError, match="append-only"):
        AuditLogEntry.objects.filter(pk=entry.pk).update(action="changed")
    with pytest.raises(ValueError, match="append-only"):
        AuditLogEntry.objects.filter(pk=entry.pk).delete()
    assert AuditLogEntry.objects.get(pk=entry.pk).action == "test.event"


def test_audit_rejects_a_malformed_ip_rather_than_failing():
    entry = audit_log_record(actor=None, action="test.event", ip="not-an-ip\r\n")
    assert entry.ip_address is None
