"""The admin's approvals queue: open first, filters by state and project, approve and reject through the same
services (checks and separation of duties hold), nothing editable."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from apps.governance.models import ApprovalRequest
from tests.accounts.factories import UserFactory
from tests.governance.factories import run_queued_checks, to_state

pytestmark = pytest.mark.django_db
QUEUE = "/admin/governance/approvalrequest/"


def test_the_queue_lists_open_requests_first_and_filters(admin_client, team, make_version, explained):
    done = to_state(team, "rejected")
    waiting = to_state(team, "review", version=make_version("titanic", dataset=team.version.dataset))
    page = admin_client.get(QUEUE)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index(f"/{waiting}/change/") < html.index(f"/{done}/change/")
    filtered = admin_client.get(QUEUE, {"state__exact": "rejected"}).content.decode()
    assert f"/{done}/change/" in filtered and f"/{waiting}/change/" not in filtered
    by_project = admin_client.get(QUEUE, {"model_version__registered_model__project__id__exact": team.project.pk})
    assert by_project.status_code == 200 and f"/{waiting}/change/" in by_project.content.decode()
    detail = admin_client.get(f"{QUEUE}{done}/change/")
    assert detail.status_code == 200 and "verifies" in detail.content.decode()
    assert admin_client.post(f"{QUEUE}{done}/change/", {"comment": "x"}).status_code == 403


def test_approve_and_reject_actions_go_through_the_services(admin_client, team, make_version, explained):
    testing = to_state(team, "testing")
    run_queued_checks()
    pending = to_state(team, "testing", version=make_version("titanic", dataset=team.version.dataset))
    response = admin_client.post(
        QUEUE, {"action": "approve", "index": "0", "_selected_action": [testing, pending]}, follow=True
    )
    text = response.content.decode()
    assert ApprovalRequest.objects.get(pk=testing).state == "approved"
    assert ApprovalRequest.objects.get(pk=pending).state == "testing"  # its checks have not run
    assert "every automatic check must pass first" in text
    admin_client.post(QUEUE, {"action": "reject", "index": "0", "_selected_action": [pending]})
    assert ApprovalRequest.objects.get(pk=pending).state == "rejected"


def test_a_superuser_cannot_approve_their_own_submission_in_the_admin(client, team, explained):
    from apps.projects.services import project_member_set

    superuser = UserFactory(roles=["ml_engineer"])
    superuser.is_superuser = superuser.is_staff = True
    superuser.save()
    project_member_set(project=team.project, user=superuser, role="editor")
    from apps.governance.services import (
        approval_request_start_review,
        approval_request_start_testing,
        approval_request_submit,
    )

    approval = approval_request_submit(version=team.version, user=superuser)
    approval_request_start_review(request=approval, user=team.reviewer)
    approval_request_start_testing(request=approval, user=team.reviewer)
    run_queued_checks()
    client.force_login(superuser)
    response = client.post(QUEUE, {"action": "approve", "index": "0", "_selected_action": [approval.pk]}, follow=True)
    assert "Separation of duties: you submitted" in response.content.decode()
    assert ApprovalRequest.objects.get(pk=approval.pk).state == "testing"


def test_admin_role_staff_see_the_queue(client, team):
    to_state(team, "submitted")
    staff = UserFactory(roles=["admin"])
    staff.is_staff = True
    staff.save()
    assert Group.objects.get(name="admin").permissions.filter(codename="view_approvalrequest").exists()
    client.force_login(staff)
    assert client.get(QUEUE).status_code == 200
