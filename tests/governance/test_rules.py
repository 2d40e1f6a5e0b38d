"""Separation of duties (also for admins and superusers), the per-project policy (distinct approvers, deployer,
holdout threshold), checks that block approve, and resubmission after a rejection."""

from __future__ import annotations

import pytest

from apps.governance.models import ApprovalRequest, ApprovalVote
from apps.governance.services import approval_policy_update
from tests.accounts.factories import UserFactory
from tests.governance.factories import move, run_queued_checks, signed_in, submit, to_state
from tests.projects.factories import add_member

pytestmark = pytest.mark.django_db


def _own_submitter(team, kind: str):
    """Someone who may submit, review and deploy: a reviewer-engineer editor, an admin, or a superuser."""
    if kind == "reviewer_engineer":
        return add_member(team.project, "editor", roles=["ml_engineer", "reviewer"])
    if kind == "admin":
        return UserFactory(roles=["admin"])
    user = UserFactory(roles=[])
    user.is_superuser = True
    user.save()
    return user


@pytest.mark.parametrize("kind", ["reviewer_engineer", "admin", "superuser"])
def test_the_submitter_never_reviews_approves_or_deploys_their_own_model(team, explained, kind):
    me = signed_in(_own_submitter(team, kind))
    approval_id = submit(me, team.version).json()["id"]
    refused = move(me, approval_id, "start_review")
    assert refused.status_code == 403 and "Separation of duties: you submitted" in refused.json()["detail"]
    reviewer = team.client("reviewer")
    move(reviewer, approval_id, "start_review")
    move(reviewer, approval_id, "start_testing")
    run_queued_checks()
    refused = move(me, approval_id, "approve")
    assert refused.status_code == 403 and "Separation of duties" in refused.json()["detail"]
    assert move(reviewer, approval_id, "approve").json()["state"] == "approved"
    for response in (
        move(me, approval_id, "deploy"),
        me.post(f"/api/v1/models/{team.version.pk}/deploy", {}, format="json"),
        me.post(f"/api/v1/automl/jobs/{team.version.job_id}/deploy", {}, format="json"),
    ):
        assert response.status_code == 403 and "Separation of duties" in response.json()["detail"], response.content
    assert ApprovalRequest.objects.get(pk=approval_id).state == "approved"


@pytest.mark.parametrize("kind", ["admin", "superuser"])
def test_the_author_of_the_training_job_never_approves_or_deploys_it(team, explained, kind):
    author = _own_submitter(team, kind)
    team.version.job.created_by = author
    team.version.job.save(update_fields=["created_by"])
    approval_id = to_state(team, "testing")
    run_queued_checks()
    client = signed_in(author)
    for action in ("approve",):
        response = move(client, approval_id, action)
        assert response.status_code == 403 and "you trained this model version" in response.json()["detail"]
    move(team.client("reviewer"), approval_id, "approve")
    response = move(client, approval_id, "deploy")
    assert response.status_code == 403 and "you trained this model version" in response.json()["detail"]


def test_two_distinct_approvers_when_the_policy_asks_for_two(team, explained):
    approval_policy_update(project=team.project, user=team.author, min_approvers=2)
    approval_id = to_state(team, "testing")
    run_queued_checks()
    first = move(team.client("reviewer"), approval_id, "approve", "one")
    assert first.status_code == 200
    assert first.json()["state"] == "testing" and first.json()["approvals"]["required"] == 2
    assert first.json()["history"][-1]["action"] == "vote"
    again = move(team.client("reviewer"), approval_id, "approve")
    assert again.status_code == 409 and "already approved" in again.json()["detail"]
    assert move(team.client("deployer"), approval_id, "deploy").status_code == 409  # not approved yet
    second = move(team.client("reviewer2"), approval_id, "approve", "two")
    assert second.json()["state"] == "approved"
    assert [vote.user for vote in ApprovalVote.objects.filter(request_id=approval_id)] == [
        team.reviewer,
        team.reviewer2,
    ]


def test_a_running_request_keeps_the_rules_it_was_submitted_under(team, explained):
    approval_id = to_state(team, "testing")
    approval_policy_update(project=team.project, user=team.author, min_approvers=3)
    run_queued_checks()
    assert move(team.client("reviewer"), approval_id, "approve").json()["state"] == "approved"


def test_the_policy_can_keep_approvers_from_deploying(team, explained):
    approval_policy_update(project=team.project, user=team.author, deployer_must_differ=True)
    reviewer_engineer = add_member(team.project, "editor", roles=["ml_engineer", "reviewer"])
    approval_id = to_state(team, "testing")
    run_queued_checks()
    client = signed_in(reviewer_engineer)
    assert move(client, approval_id, "approve").json()["state"] == "approved"
    refused = move(client, approval_id, "deploy")
    assert refused.status_code == 403 and "approved this request" in refused.json()["detail"]
    assert move(team.client("deployer"), approval_id, "deploy").json()["state"] == "deployed"


def test_approve_is_409_while_the_checks_are_pending(team):
    approval_id = to_state(team, "testing")
    response = move(team.client("reviewer"), approval_id, "approve")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "pending" in detail and "artifact_hash" in detail and "explanation" in detail


def test_approve_is_409_naming_the_failed_checks(team, explained):
    approval_policy_update(project=team.project, user=team.author, holdout_metric="accuracy", holdout_min_score=0.999)
    approval_id = to_state(team, "testing")
    run_queued_checks()
    response = move(team.client("reviewer"), approval_id, "approve")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "failed: holdout_score (accuracy" in detail and "< 0.9990" in detail
    assert response.json()["checks_status"] == "failed"
    checks = {check["name"]: check for check in response.json()["checks"]}
    assert checks["holdout_score"]["evidence"]["minimum"] == 0.999
    assert checks["artifact_hash"]["status"] == "passed"


def test_a_failing_explanation_check_blocks_until_the_checks_run_again(team, explained):
    from apps.registry import hooks

    approval_id = to_state(team, "review")
    with hooks.override(feature_importances=lambda versions: {}):
        move(team.client("reviewer"), approval_id, "start_testing")
        run_queued_checks()
    response = move(team.client("reviewer"), approval_id, "approve")
    assert response.status_code == 409 and "failed: explanation" in response.json()["detail"]
    assert team.client("reviewer").post(f"/api/v1/approvals/{approval_id}/run-checks").status_code == 202
    run_queued_checks()
    assert move(team.client("reviewer"), approval_id, "approve").json()["state"] == "approved"


def test_a_changed_archive_fails_the_hash_check(team, explained):
    from django.core.files.base import ContentFile

    storage = team.version.artifact.storage
    storage.delete(team.version.artifact.name)
    storage.save(team.version.artifact.name, ContentFile(b"not the trained predictor"))
    approval_id = to_state(team, "testing")
    run_queued_checks()
    checks = {c["name"]: c for c in ApprovalRequest.objects.get(pk=approval_id).checks}
    assert checks["artifact_hash"]["status"] == "failed"
    assert checks["artifact_hash"]["evidence"]["expected_sha256"] == team.version.artifact_sha256


def test_one_live_request_per_version_and_a_rejected_version_may_come_back(team):
    engineer = team.client("engineer")
    first = submit(engineer, team.version).json()["id"]
    again = submit(engineer, team.version)
    assert again.status_code == 409 and "already has approval request" in again.json()["detail"]
    move(team.client("reviewer"), first, "start_review")
    assert move(team.client("reviewer"), first, "reject", "needs a limitations section").json()["state"] == "rejected"
    second = submit(engineer, team.version, comment="with limitations")
    assert second.status_code == 201 and second.json()["id"] != first
    listed = team.client("viewer").get(f"/api/v1/approvals?model_version={team.version.pk}").json()["results"]
    assert [row["id"] for row in listed] == [second.json()["id"], first]  # the open one first
    old = team.client("viewer").get(f"/api/v1/approvals/{first}").json()
    assert [row["to"] for row in old["history"]] == ["submitted", "review", "rejected"]


def test_one_live_request_per_version_is_a_database_constraint(team):
    from django.db import IntegrityError, transaction

    ApprovalRequest.objects.create(model_version=team.version, submitted_by=team.engineer)
    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalRequest.objects.create(model_version=team.version, submitted_by=team.engineer)


def test_submit_needs_an_editor_with_models_edit(team, api_client):
    assert submit(team.client("viewer"), team.version).status_code == 403
    assert submit(team.client("reviewer"), team.version).status_code == 403
    editor_without_capability = signed_in(add_member(team.project, "editor", roles=["viewer"]))
    response = submit(editor_without_capability, team.version)
    assert response.status_code == 403 and "models:edit" in response.json()["detail"]
    assert submit(api_client, team.version).status_code == 401
    too_long = team.client("engineer").post(
        f"/api/v1/models/{team.version.pk}/submit-approval", {"comment": "x" * 10_001}, format="json"
    )
    assert too_long.status_code == 400 and "comment" in too_long.json()
