"""The acceptance flow: submit → review → testing (the checks pass) → approve → deploy, and the registered model
serves the version; then the two reviewers who approve at the same moment cannot both move the request."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from apps.core.exceptions import Conflict
from apps.governance.models import ApprovalEvent, ApprovalRequest, ApprovalVote
from apps.governance.services import approval_request_approve
from tests.governance.factories import move, run_queued_checks, submit, to_state


@pytest.mark.django_db
def test_a_reviewed_tested_approved_version_is_deployed_and_serves_predictions(
    team, explained, trained, tasks_here, django_capture_on_commit_callbacks
):
    reviewer, deployer = team.client("reviewer"), team.client("deployer")
    with django_capture_on_commit_callbacks(execute=True):
        approval_id = submit(team.client("engineer"), team.version, comment="first model").json()["id"]
        assert move(reviewer, approval_id, "start_review").json()["state"] == "review"
        testing = move(reviewer, approval_id, "start_testing")
    assert testing.json()["state"] == "testing"
    checks = reviewer.get(f"/api/v1/approvals/{approval_id}").json()  # the check run ran on commit
    assert checks["checks_status"] == "passed", checks["checks"]
    assert {c["name"]: c["status"] for c in checks["checks"]} == {
        "holdout_score": "skipped",
        "artifact_hash": "passed",
        "feature_schema": "passed",
        "explanation": "passed",
        "model_card": "passed",
    }
    assert move(reviewer, approval_id, "approve", "meets the bar").json()["state"] == "approved"
    deployed = move(deployer, approval_id, "deploy", "release 1")
    assert deployed.status_code == 200 and deployed.json()["state"] == "deployed"

    registered_model_id = team.version.registered_model_id
    served = team.client("viewer").post(
        f"/api/v1/registered-models/{registered_model_id}/predict",
        {"instances": trained["titanic"].rows},
        format="json",
    )
    assert served.status_code == 200, served.content
    assert served.json()["model_version_id"] == team.version.pk
    assert len(served.json()["predictions"]) == len(trained["titanic"].rows)
    lineage = team.client("viewer").get(f"/api/v1/models/{team.version.pk}/lineage").json()
    assert lineage["approval_state"] == "deployed"
    assert [row["to"] for row in lineage["approvals"] if row["action"] != "checks"][-1] == "deployed"


@pytest.mark.django_db
def test_registry_deploy_paths_follow_the_same_rule_and_move_the_request(team, explained, make_version):
    """models/{id}/deploy and automl/jobs/{id}/deploy deploy an approved version and move its request; a rollback to
    a deployed version is recorded in its history."""
    refused = team.client("deployer").post(f"/api/v1/models/{team.version.pk}/deploy", {}, format="json")
    assert refused.status_code == 409 and "no approved approval request" in refused.json()["detail"]
    first = to_state(team, "approved")
    response = team.client("deployer").post(f"/api/v1/automl/jobs/{team.version.job_id}/deploy", {}, format="json")
    assert response.status_code == 201, response.content
    assert ApprovalRequest.objects.get(pk=first).state == "deployed"

    second_version = make_version("titanic", dataset=team.version.dataset)  # v2 of the same registered model
    assert second_version.registered_model_id == team.version.registered_model_id
    second = to_state(team, "approved", version=second_version)
    assert (
        team.client("reviewer").post(f"/api/v1/models/{second_version.pk}/deploy", {}, format="json").status_code == 201
    )
    assert ApprovalRequest.objects.get(pk=second).state == "deployed"
    rollback = team.client("reviewer").post(f"/api/v1/registered-models/{team.version.registered_model_id}/rollback")
    assert rollback.status_code == 201 and rollback.json()["model_version"] == team.version.pk
    assert ApprovalEvent.objects.filter(request_id=first).order_by("-sequence").first().action == "redeploy"
    viewer = team.client("viewer").post(f"/api/v1/registered-models/{team.version.registered_model_id}/rollback")
    assert viewer.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_approving_at_the_same_moment_move_the_request_once(
    role_groups, no_explanations_queued, team, explained, tasks_here
):
    # The checks run here, where the explanation hook is overridden: a session worker started by earlier tests
    # would otherwise take the queued check run and fail its explanation check.
    approval_id = to_state(team, "testing")
    run_queued_checks()
    approval = ApprovalRequest.objects.get(pk=approval_id)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(user) -> None:
        try:
            barrier.wait(timeout=10)
            approval_request_approve(request=approval, user=user, comment="at once")
            outcomes.append("approved")
        except Conflict as exc:
            outcomes.append(f"409: {exc.message}")
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(user,)) for user in (team.reviewer, team.reviewer2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcome.split(":")[0] for outcome in outcomes) == ["409", "approved"], outcomes
    assert "'approved'" in next(outcome for outcome in outcomes if outcome.startswith("409"))
    assert ApprovalRequest.objects.get(pk=approval_id).state == "approved"
    assert ApprovalVote.objects.filter(request_id=approval_id).count() == 1
    assert ApprovalEvent.objects.filter(request_id=approval_id, action="approve").count() == 1
