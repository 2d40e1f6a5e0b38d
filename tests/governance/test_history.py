"""History rows cannot be changed or removed through the API, the admin, a service or a queryset, and a row changed
in the database directly shows: the API says the chain no longer verifies and ``verify_history`` exits non-zero."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from apps.governance.models import ApprovalEvent, ApprovalRequest
from tests.governance.factories import move, run_queued_checks, to_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def approval_id(team, explained) -> int:
    approval_id = to_state(team, "testing")
    run_queued_checks()
    move(team.client("reviewer"), approval_id, "approve", "fine")
    return approval_id


def test_every_move_and_check_run_is_a_chained_row(team, approval_id):
    body = team.client("viewer").get(f"/api/v1/approvals/{approval_id}").json()
    assert [row["action"] for row in body["history"]] == [
        "submit",
        "start_review",
        "start_testing",
        "checks",
        "approve",
    ]
    previous = "0" * 64
    for row in body["history"]:
        assert row["previous_hash"] == previous and len(row["hash"]) == 64
        previous = row["hash"]
    assert body["history_verified"] is True and body["chain"]["head"] == previous
    checks_row = body["history"][3]
    assert checks_row["by"] is None and {check["name"] for check in checks_row["checks"]} >= {"artifact_hash"}


def test_the_api_offers_no_way_to_change_history(team, approval_id):
    admin = team.client("admin")
    for method in ("put", "patch", "delete"):
        assert getattr(admin, method)(f"/api/v1/approvals/{approval_id}", {}, format="json").status_code == 405


def test_rows_refuse_changes_and_deletion_one_by_one_and_in_bulk(approval_id):
    event = ApprovalEvent.objects.filter(request_id=approval_id).first()
    event.comment = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    with pytest.raises(ValueError, match="append-only"):
        ApprovalEvent.objects.filter(request_id=approval_id).update(comment="rewritten")
    with pytest.raises(ValueError, match="append-only"):
        ApprovalEvent.objects.filter(request_id=approval_id).delete()
    assert ApprovalEvent.objects.filter(request_id=approval_id, comment="rewritten").count() == 0


def test_the_admin_shows_history_read_only(admin_client, approval_id):
    event = ApprovalEvent.objects.filter(request_id=approval_id).first()
    page = admin_client.get(f"/admin/governance/approvalevent/{event.pk}/change/")
    assert page.status_code == 200 and b'name="comment"' not in page.content
    assert admin_client.post(f"/admin/governance/approvalevent/{event.pk}/change/", {"comment": "x"}).status_code == 403
    assert admin_client.post(f"/admin/governance/approvalevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert (
        admin_client.post(f"/admin/governance/approvalrequest/{approval_id}/delete/", {"post": "yes"}).status_code
        == 403
    )
    ApprovalEvent.objects.get(pk=event.pk)  # still there


def test_a_row_changed_in_the_database_breaks_the_chain_and_verify_history_fails(team, approval_id, capsys):
    call_command("verify_history")
    assert "approval histories verify" in capsys.readouterr().out
    event = ApprovalEvent.objects.filter(request_id=approval_id, action="approve").get()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE governance_approvalevent SET comment = %s WHERE id = %s", ["never reviewed", event.pk])
    body = team.client("viewer").get(f"/api/v1/approvals/{approval_id}").json()
    assert body["history_verified"] is False and body["chain"]["broken_at"] == event.sequence
    with pytest.raises(CommandError, match="1 of 1 approval histories are broken"):
        call_command("verify_history")
    assert f"approval request {approval_id}: broken at row {event.sequence}" in capsys.readouterr().err


def test_a_last_row_removed_in_the_database_breaks_the_chain(team, approval_id):
    last = ApprovalEvent.objects.filter(request_id=approval_id).order_by("-sequence").first()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM governance_approvalevent WHERE id = %s", [last.pk])
    request = ApprovalRequest.objects.get(pk=approval_id)
    from apps.governance.selectors import history_verify

    report = history_verify(request=request)
    assert not report.ok and "end at the expected head" in report.reason
