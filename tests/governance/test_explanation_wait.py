"""Approval checks wait for a global explanation on its way: pending (not failed) while it is queued or running,
``approve`` answers 409 naming it, and once it lands (or fails) the checks of every request in testing run again by
themselves. A failed explanation fails the check with its reason, and the page offers to explain again."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.explain import services as explain
from apps.explain.choices import ExplanationMethod
from apps.explain.models import Explanation
from apps.governance.models import ApprovalRequest, CheckRun
from tests.governance.factories import move, run_queued_checks, to_state

pytestmark = pytest.mark.django_db


def checks_of(approval_id: int) -> dict:
    return {check["name"]: check for check in ApprovalRequest.objects.get(pk=approval_id).checks}


def queued_global(version, **params) -> Explanation:
    explanation, created = explain.explanation_request(
        user=None, version=version, method=ExplanationMethod.SHAP_GLOBAL, params=params
    )
    assert created
    return explanation


def test_checks_wait_for_a_running_explanation_and_run_again_when_it_lands(team, django_capture_on_commit_callbacks):
    explanation = queued_global(team.version)
    approval_id = to_state(team, "testing")
    run_queued_checks()
    check = checks_of(approval_id)["explanation"]
    assert check["status"] == "pending" and f"#{explanation.pk} is queued" in check["detail"]
    assert ApprovalRequest.objects.get(pk=approval_id).checks_status == "pending"

    refused = move(team.client("reviewer"), approval_id, "approve")
    assert refused.status_code == 409
    assert f"pending: explanation (The global explanation #{explanation.pk} is queued" in refused.json()["detail"]

    runs_before = CheckRun.objects.filter(request_id=approval_id).count()
    with django_capture_on_commit_callbacks(execute=True):
        done = explain.explanation_run(explanation_id=explanation.pk)
    assert done.status == "succeeded", done.error
    assert CheckRun.objects.filter(request_id=approval_id).count() == runs_before + 1  # nobody asked for it
    run_queued_checks()
    assert checks_of(approval_id)["explanation"]["status"] == "passed"
    approved = move(team.client("reviewer"), approval_id, "approve")
    assert approved.status_code == 200 and approved.json()["state"] == "approved"


def test_a_failed_explanation_fails_the_check_with_its_reason_and_the_page_offers_to_explain_again(
    team, django_capture_on_commit_callbacks
):
    explanation = queued_global(team.version, budget_s=0.01)
    approval_id = to_state(team, "testing")
    with django_capture_on_commit_callbacks(execute=True):
        failed = explain.explanation_run(explanation_id=explanation.pk)
    assert failed.status == "failed" and "needs a budget of about" in failed.error
    run_queued_checks()
    check = checks_of(approval_id)["explanation"]
    assert check["status"] == "failed" and "needs a budget of about" in check["detail"]
    refused = move(team.client("reviewer"), approval_id, "approve")
    assert refused.status_code == 409 and "failed: explanation" in refused.json()["detail"]

    page = Client()
    page.force_login(team.reviewer)
    html = page.get(f"/approvals/{approval_id}/").content.decode()
    action = f'action="/registry/versions/{team.version.pk}/explain"'
    assert action in html and "Explain the version again" in html

    answer = page.post(f"/registry/versions/{team.version.pk}/explain", {"next": f"/approvals/{approval_id}/"})
    assert answer.status_code == 302 and answer["Location"] == f"/approvals/{approval_id}/"
    again = Explanation.objects.filter(model_version=team.version, status="queued").get()
    with django_capture_on_commit_callbacks(execute=True):
        assert explain.explanation_run(explanation_id=again.pk).status == "succeeded"
    run_queued_checks()
    assert checks_of(approval_id)["explanation"]["status"] == "passed"
    assert move(team.client("reviewer"), approval_id, "approve").json()["state"] == "approved"


def test_a_version_never_explained_fails_the_check_saying_how_to_make_one(team):
    approval_id = to_state(team, "testing")
    run_queued_checks()
    check = checks_of(approval_id)["explanation"]
    assert check["status"] == "failed" and "No global explanation" in check["detail"]
    assert check["evidence"]["explanation_status"] == "none"


def test_asking_to_explain_a_version_of_another_project_is_not_found(team):
    page = Client()
    page.force_login(team.outsider)
    assert page.post(f"/registry/versions/{team.version.pk}/explain").status_code == 404
    assert not Explanation.objects.filter(model_version=team.version).exists()
    anonymous = Client().post(f"/registry/versions/{team.version.pk}/explain")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
