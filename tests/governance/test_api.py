"""The rest of the governance API: the queue (pending first, filters), the approval record (json, pdf), the
approval policy, and the 400/401/404 answers."""

from __future__ import annotations

import pytest

from apps.governance.models import ApprovalRequest
from tests.governance.factories import move, run_queued_checks, submit, to_state

pytestmark = pytest.mark.django_db


def test_the_queue_lists_pending_first_and_filters_by_state_and_project(team, make_version, explained):
    rejected = to_state(team, "rejected")
    other_version = make_version("titanic", dataset=team.version.dataset)
    approved = to_state(team, "approved", version=other_version)
    third = make_version("titanic", dataset=team.version.dataset)
    waiting = to_state(team, "submitted", version=third)
    client = team.client("viewer")
    rows = client.get("/api/v1/approvals").json()["results"]
    assert [row["id"] for row in rows] == [waiting, approved, rejected]
    assert rows[0]["submitted_by"] == team.engineer.username and rows[0]["project"]["id"] == team.project.pk
    assert [r["id"] for r in client.get("/api/v1/approvals?state=approved").json()["results"]] == [approved]
    assert client.get(f"/api/v1/approvals?project={team.project.pk}").json()["count"] == 3
    assert client.get("/api/v1/approvals?state=nonsense").status_code == 400
    assert client.get("/api/v1/approvals?project=999999").status_code == 404
    assert team.client("outsider").get("/api/v1/approvals").json()["count"] == 0


def test_the_detail_says_which_moves_the_caller_may_make(team):
    approval_id = to_state(team, "submitted")
    assert team.client("reviewer").get(f"/api/v1/approvals/{approval_id}").json()["actions"] == ["start_review"]
    assert team.client("engineer").get(f"/api/v1/approvals/{approval_id}").json()["actions"] == []


def test_the_approval_record_as_json_and_pdf(team, explained):
    approval_id = to_state(team, "testing")
    run_queued_checks()
    move(team.client("reviewer"), approval_id, "approve", "ok")
    client = team.client("viewer")
    record = client.get(f"/api/v1/approvals/{approval_id}/record?format=json")
    assert record.status_code == 200
    body = record.json()
    assert body["model_card"]["model"]["id"] == team.version.pk
    assert body["chain"]["verified"] is True and len(body["history"]) == 5
    assert body["check_runs"][0]["results"][1]["name"] == "artifact_hash"
    assert body["decisions"] == [
        {"action": "approve", "by": team.reviewer.username, "at": body["history"][-1]["at"], "comment": "ok"}
    ]
    pdf = client.get(f"/api/v1/approvals/{approval_id}/record?format=pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client.get(f"/api/v1/approvals/{approval_id}/record?format=docx").status_code == 400
    assert team.client("outsider").get(f"/api/v1/approvals/{approval_id}/record").status_code == 404


def test_owners_change_the_approval_policy_and_members_read_it(team, api_client):
    url = f"/api/v1/projects/{team.project.pk}/approval-policy"
    default = team.client("viewer").get(url)
    assert default.status_code == 200
    assert default.json()["min_approvers"] == 1 and default.json()["effective_reminder_days"] == 3
    changed = team.client("author").patch(
        url, {"min_approvers": 2, "holdout_metric": "accuracy", "holdout_min_score": 0.7}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["min_approvers"] == 2 and changed.json()["holdout_min_score"] == 0.7
    assert team.client("engineer").patch(url, {"min_approvers": 1}, format="json").status_code == 403
    assert team.client("author").patch(url, {"min_approvers": 0}, format="json").status_code == 400
    half = team.client("author").patch(url, {"holdout_metric": "", "holdout_min_score": 0.5}, format="json")
    assert half.status_code == 400 and "holdout_min_score" in half.json()
    assert team.client("outsider").get(url).status_code == 404
    assert api_client.get(url).status_code == 401
    submitted = submit(team.client("engineer"), team.version).json()
    assert submitted["policy"]["min_approvers"] == 2


def test_moves_answer_404_for_a_missing_request_and_400_for_a_bad_comment(team):
    reviewer = team.client("reviewer")
    assert move(reviewer, 999999, "start_review").status_code == 404
    approval_id = to_state(team, "submitted")
    response = reviewer.post(f"/api/v1/approvals/{approval_id}/start-review", {"comment": "x" * 10_001}, format="json")
    assert response.status_code == 400 and "comment" in response.json()
    assert ApprovalRequest.objects.get(pk=approval_id).state == "submitted"


def test_run_checks_is_for_reviewers_in_testing(team, api_client):
    approval_id = to_state(team, "review")
    url = f"/api/v1/approvals/{approval_id}/run-checks"
    assert team.client("reviewer").post(url).status_code == 409
    assert team.client("engineer").post(url).status_code == 403
    assert api_client.post(url).status_code == 401
