"""Notifications go to the people concerned (the submitter and the project's reviewers, admins when the policy
says so, never the person who acted), by email too, and never block a move; the caller's own notifications API;
reminders of requests waiting too long."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.governance.models import ApprovalRequest, Notification
from apps.governance.services import approval_policy_update, approval_reminders_send
from tests.governance.factories import move, submit, to_state

pytestmark = pytest.mark.django_db


def recipients_of(approval_id: int, title_part: str) -> set[str]:
    return set(
        Notification.objects.filter(request_id=approval_id, title__contains=title_part).values_list(
            "user__username", flat=True
        )
    )


def test_each_move_notifies_the_submitter_and_the_projects_reviewers_but_not_the_actor(team):
    approval_id = submit(team.client("engineer"), team.version).json()["id"]
    assert recipients_of(approval_id, "submitted") == {team.reviewer.username, team.reviewer2.username}
    move(team.client("reviewer"), approval_id, "start_review")
    assert recipients_of(approval_id, "in review") == {team.engineer.username, team.reviewer2.username}
    move(team.client("reviewer2"), approval_id, "reject", "no card")
    rejected = Notification.objects.get(request_id=approval_id, title__contains="rejected", user=team.engineer)
    assert "no card" in rejected.body and rejected.url == f"/approvals/{approval_id}/"
    # Nobody outside the project, no viewer or deployer of it, no admin (the policy does not ask for them).
    everyone = set(Notification.objects.values_list("user__username", flat=True))
    assert everyone == {team.engineer.username, team.reviewer.username, team.reviewer2.username}


def test_admins_are_notified_when_the_policy_says_so(team):
    approval_policy_update(project=team.project, user=team.author, notify_admins=True)
    approval_id = submit(team.client("engineer"), team.version).json()["id"]
    assert team.admin.username in recipients_of(approval_id, "submitted")


def test_notifications_are_emailed_through_djangos_backend(team, tasks_here, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        approval_id = submit(team.client("engineer"), team.version, comment="v1 please").json()["id"]
    assert sorted(message.to[0] for message in mail.outbox) == sorted([team.reviewer.email, team.reviewer2.email])
    message = mail.outbox[0]
    assert "submitted for approval" in message.subject and "v1 please" in message.body
    assert f"/approvals/{approval_id}/" in message.body
    assert set(Notification.objects.values_list("email_status", flat=True)) == {"sent"}


def test_a_refused_email_is_recorded_not_raised(team, tasks_here, django_capture_on_commit_callbacks, monkeypatch):
    import smtplib

    def refused(**kwargs):
        raise smtplib.SMTPRecipientsRefused({"x@example.org": (550, b"no such mailbox")})

    monkeypatch.setattr("apps.governance.notify.send_mail", refused)
    with django_capture_on_commit_callbacks(execute=True):
        assert submit(team.client("engineer"), team.version).status_code == 201
    failed = Notification.objects.filter(email_status="failed")
    assert failed.count() == 2 and "no such mailbox" in failed.first().email_error


def test_an_unreachable_mail_server_leaves_emails_waiting_and_opens_the_breaker(team, settings, monkeypatch):
    from apps.core.resilience import CacheCircuitStorage
    from apps.governance.notify import EmailUnavailable, notification_email_send

    calls = []

    def unreachable(**kwargs):
        calls.append(kwargs)
        raise ConnectionRefusedError("no SMTP server")

    monkeypatch.setattr("apps.governance.notify.send_mail", unreachable)
    settings.BREAKER_FAIL_MAX = 2
    assert submit(team.client("engineer"), team.version).status_code == 201
    pending = list(Notification.objects.filter(email_status="pending"))
    assert len(pending) == 2
    for _ in range(3):
        with pytest.raises(EmailUnavailable):
            notification_email_send(notification_id=pending[0].pk)
    assert len(calls) == 2  # the third try met the open breaker: no connection attempted
    assert CacheCircuitStorage("email").state == "open"
    assert set(Notification.objects.values_list("email_status", flat=True)) == {"pending"}  # waiting, not lost


def test_a_notification_failure_never_fails_the_move(team, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("notification store down")

    monkeypatch.setattr("apps.governance.notify._fan_out", broken)
    response = submit(team.client("engineer"), team.version)
    assert response.status_code == 201 and response.json()["state"] == "submitted"
    assert not Notification.objects.exists()
    assert move(team.client("reviewer"), response.json()["id"], "start_review").json()["state"] == "review"


def test_the_notifications_api_is_the_callers_own(team, api_client):
    approval_id = submit(team.client("engineer"), team.version).json()["id"]
    reviewer = team.client("reviewer")
    listed = reviewer.get("/api/v1/notifications").json()
    assert listed["count"] == 1 and listed["unread"] == 1
    note = listed["results"][0]
    assert note["approval_request"] == approval_id and note["read"] is False
    assert reviewer.get("/api/v1/notifications/unread-count").json() == {"unread": 1}
    assert team.client("reviewer2").post(f"/api/v1/notifications/{note['id']}/read").status_code == 404
    read = reviewer.post(f"/api/v1/notifications/{note['id']}/read")
    assert read.status_code == 200 and read.json()["read"] is True
    assert reviewer.get("/api/v1/notifications?unread=true").json()["count"] == 0
    assert reviewer.get("/api/v1/notifications?unread=maybe").status_code == 400
    assert team.client("reviewer2").post("/api/v1/notifications/read-all").json()["marked"] == 1
    assert api_client.get("/api/v1/notifications").status_code == 401
    assert api_client.post(f"/api/v1/notifications/{note['id']}/read").status_code == 401


def test_reviewers_are_reminded_of_a_request_waiting_longer_than_the_policy_allows(team):
    approval_policy_update(project=team.project, user=team.author, reminder_days=2)
    approval_id = to_state(team, "review")
    assert approval_reminders_send() == []  # fresh
    ApprovalRequest.objects.filter(pk=approval_id).update(created_at=timezone.now() - timedelta(days=3))
    assert approval_reminders_send() == [approval_id]
    reminded = recipients_of(approval_id, "Reminder")
    assert reminded == {team.reviewer.username, team.reviewer2.username}
    assert approval_reminders_send() == []  # not again until another two days pass
    assert approval_reminders_send(now=timezone.now() + timedelta(days=2, minutes=1)) == [approval_id]


def test_no_reminders_when_the_policy_turns_them_off_or_after_a_decision(team, explained):
    approval_policy_update(project=team.project, user=team.author, reminder_days=0)
    waiting = to_state(team, "submitted")
    ApprovalRequest.objects.filter(pk=waiting).update(created_at=timezone.now() - timedelta(days=30))
    assert approval_reminders_send() == []
