"""Pages: the version page's approval panel shows the state, the history and only the buttons the user may use;
the queue, an approval's page, the notifications page and the unread count in the header; another project's
approval is a 404."""

from __future__ import annotations

import pytest

from apps.governance.models import ApprovalRequest
from tests.governance.factories import to_state

pytestmark = pytest.mark.django_db


def page_as(client, user, url):
    client.force_login(user)
    return client.get(url)


def test_the_version_page_offers_submission_to_an_editor(client, team):
    html = page_as(client, team.engineer, f"/registry/versions/{team.version.pk}/").content.decode()
    assert "has not been submitted for approval" in html and "Submit v1 for approval" in html
    html = page_as(client, team.reviewer, f"/registry/versions/{team.version.pk}/").content.decode()
    assert "Submit v1 for approval" not in html


def test_the_version_page_shows_state_history_and_only_allowed_buttons(client, team):
    approval_id = to_state(team, "submitted")
    url = f"/registry/versions/{team.version.pk}/"
    html = page_as(client, team.reviewer, url).content.decode()
    assert f"/approvals/{approval_id}/" in html and "submitted" in html
    assert "Start review" in html and ">Approve<" not in html and ">Deploy<" not in html
    html = page_as(client, team.engineer, url).content.decode()
    assert "Start review" not in html and "Submit v1 for approval" not in html


def test_submitting_and_moving_from_the_pages(client, team):
    client.force_login(team.engineer)
    response = client.post(f"/registry/versions/{team.version.pk}/submit-approval", {"comment": "from the page"})
    assert response.status_code == 302
    approval = ApprovalRequest.objects.get(model_version=team.version)
    client.force_login(team.reviewer)
    back = f"/registry/versions/{team.version.pk}/"
    response = client.post(f"/approvals/{approval.pk}/start_review", {"comment": "on it", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert ApprovalRequest.objects.get(pk=approval.pk).state == "review"
    offsite = client.post(f"/approvals/{approval.pk}/start_testing", {"next": "https://evil.example.org/"})
    assert offsite["Location"] == f"/approvals/{approval.pk}/"
    client.force_login(team.engineer)
    refused = client.post(f"/approvals/{approval.pk}/reject", follow=True)
    assert "Only reviewers and administrators may reject" in refused.content.decode()
    assert client.post(f"/approvals/{approval.pk}/nonsense").status_code == 404


def test_the_queue_and_approval_pages(client, team):
    approval_id = to_state(team, "review")
    html = page_as(client, team.viewer, "/approvals/").content.decode()
    assert f"/approvals/{approval_id}/" in html
    assert (
        f"/approvals/{approval_id}/" not in page_as(client, team.viewer, "/approvals/?state=approved").content.decode()
    )
    detail = page_as(client, team.viewer, f"/approvals/{approval_id}/")
    html = detail.content.decode()
    assert detail.status_code == 200 and "verifies" in html and "record?format=pdf" in html
    assert "Start testing" not in html
    assert "Start testing" in page_as(client, team.reviewer, f"/approvals/{approval_id}/").content.decode()
    assert page_as(client, team.outsider, f"/approvals/{approval_id}/").status_code == 404
    assert client.post(f"/approvals/{approval_id}/start_testing").status_code == 404  # still the outsider


def test_notifications_page_and_the_unread_count_in_the_header(client, team):
    to_state(team, "submitted")
    html = page_as(client, team.reviewer, "/approvals/").content.decode()
    assert 'class="badge">1<' in html
    page = page_as(client, team.reviewer, "/notifications/").content.decode()
    assert "submitted for approval" in page
    note = team.reviewer.notifications.get()
    response = client.post(f"/notifications/{note.pk}/read", {"open": "1"})
    assert response["Location"] == note.url
    assert 'class="badge"' not in page_as(client, team.reviewer, "/notifications/").content.decode()
    client.force_login(team.reviewer2)
    assert client.post(f"/notifications/{note.pk}/read").status_code == 404
    assert client.post("/notifications/read-all").status_code == 302
