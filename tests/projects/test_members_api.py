"""Members API: owners add, change and remove members; a project always keeps an owner."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.projects.models import Project, ProjectMembership
from tests.accounts.factories import UserFactory
from tests.projects.conftest import client_for
from tests.projects.factories import ProjectFactory, add_member

pytestmark = pytest.mark.django_db


def members_url(project) -> str:
    return f"/api/v1/projects/{project.pk}/members"


def test_members_are_listed_owners_first():
    project = ProjectFactory()
    viewer = add_member(project, "viewer")
    editor = add_member(project, "editor")
    body = client_for(viewer).get(members_url(project)).json()
    assert [(row["user_id"], row["role"]) for row in body["results"]] == [
        (project.owner.pk, "owner"),
        (editor.pk, "editor"),
        (viewer.pk, "viewer"),
    ]


def test_owner_adds_a_member_then_changes_their_role():
    project = ProjectFactory()
    newcomer = UserFactory()
    owner = client_for(project.owner)

    added = owner.post(members_url(project), {"user_id": newcomer.pk, "role": "viewer"})
    assert added.status_code == 201
    assert added.json() | {"user_id": newcomer.pk, "username": newcomer.username, "role": "viewer"} == added.json()
    assert client_for(newcomer).get(f"/api/v1/projects/{project.pk}").status_code == 200

    promoted = owner.post(members_url(project), {"user_id": newcomer.pk, "role": "editor"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "editor"
    assert newcomer.has_perm("projects.change_project", project)


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_non_owners_cannot_change_members(role):
    project = ProjectFactory()
    member = add_member(project, role, roles=["ml_engineer"])
    response = client_for(member).post(members_url(project), {"user_id": UserFactory().pk, "role": "viewer"})
    assert response.status_code == 403


def test_outsiders_get_404_on_members():
    project = ProjectFactory()
    outsider = UserFactory()
    client = client_for(outsider)
    assert client.get(members_url(project)).status_code == 404
    assert client.post(members_url(project), {"user_id": outsider.pk, "role": "owner"}).status_code == 404


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"user_id": 999_999, "role": "viewer"}, "user_id"),
        ({"role": "viewer"}, "user_id"),
        ({"user_id": "x", "role": "viewer"}, "user_id"),
        ({"user_id": 1, "role": "boss"}, "role"),
    ],
)
def test_bad_member_payloads_answer_400(payload, field):
    project = ProjectFactory()
    response = client_for(project.owner).post(members_url(project), payload)
    assert response.status_code == 400
    assert field in response.json()


def test_deactivated_users_cannot_be_added():
    project = ProjectFactory()
    gone = UserFactory(is_active=False)
    response = client_for(project.owner).post(members_url(project), {"user_id": gone.pk, "role": "viewer"})
    assert response.status_code == 400


def test_owner_removes_a_member_who_then_loses_access():
    project = ProjectFactory()
    viewer = add_member(project, "viewer")
    assert client_for(project.owner).delete(f"{members_url(project)}/{viewer.pk}").status_code == 204
    assert client_for(viewer).get(f"/api/v1/projects/{project.pk}").status_code == 404
    assert not viewer.has_perm("projects.view_project", project)


def test_member_may_leave_but_not_remove_others():
    project = ProjectFactory()
    viewer, other = add_member(project, "viewer"), add_member(project, "viewer")
    assert client_for(viewer).delete(f"{members_url(project)}/{other.pk}").status_code == 403
    assert client_for(viewer).delete(f"{members_url(project)}/{viewer.pk}").status_code == 204


def test_the_last_owner_cannot_leave_or_be_demoted():
    project = ProjectFactory()
    owner = client_for(project.owner)
    removed = owner.delete(f"{members_url(project)}/{project.owner.pk}")
    assert removed.status_code == 409
    assert "at least one owner" in removed.json()["detail"]
    demoted = owner.post(members_url(project), {"user_id": project.owner.pk, "role": "viewer"})
    assert demoted.status_code == 400


def test_when_the_recorded_owner_leaves_another_owner_takes_over():
    project = ProjectFactory()
    successor = add_member(project, "owner")
    assert client_for(project.owner).delete(f"{members_url(project)}/{project.owner.pk}").status_code == 204
    project.refresh_from_db()
    assert project.owner == successor
    assert not ProjectMembership.objects.filter(project=project, role="owner").exclude(user=successor).exists()


def test_removing_someone_who_is_not_a_member_answers_404():
    project = ProjectFactory()
    assert client_for(project.owner).delete(f"{members_url(project)}/{UserFactory().pk}").status_code == 404


def test_without_a_token_members_answer_401():
    project = ProjectFactory()
    assert APIClient().get(members_url(project)).status_code == 401
    assert Project.objects.filter(pk=project.pk).exists()
