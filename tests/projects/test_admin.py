"""Operators' admin pages for projects and datasets."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.projects.models import ProjectMembership
from tests.accounts.factories import UserFactory
from tests.projects.factories import DatasetFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True, roles=["admin"]))
    return client


def test_project_changelist_search_and_filters(admin_client):
    ProjectFactory(name="Churn model")
    ProjectFactory(name="Fraud", is_archived=True)
    response = admin_client.get("/admin/projects/project/?q=Churn")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Churn model" in html and "Fraud" not in html
    assert admin_client.get("/admin/projects/project/?is_archived__exact=1").status_code == 200


def test_project_change_page_edits_members_through_the_services(admin_client):
    project = ProjectFactory()
    newcomer = UserFactory()
    owner_membership = ProjectMembership.objects.get(project=project)
    page = admin_client.get(f"/admin/projects/project/{project.pk}/change/")
    assert page.status_code == 200

    response = admin_client.post(
        f"/admin/projects/project/{project.pk}/change/",
        {
            "name": project.name,
            "description": project.description,
            "owner": project.owner.pk,
            "memberships-TOTAL_FORMS": "2",
            "memberships-INITIAL_FORMS": "1",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-id": owner_membership.pk,
            "memberships-0-project": project.pk,
            "memberships-0-user": project.owner.pk,
            "memberships-0-role": "owner",
            "memberships-1-project": project.pk,
            "memberships-1-user": newcomer.pk,
            "memberships-1-role": "editor",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert newcomer.has_perm("projects.change_project", project)


def test_admin_refuses_to_drop_the_last_owner(admin_client):
    project = ProjectFactory()
    owner_membership = ProjectMembership.objects.get(project=project)
    response = admin_client.post(
        f"/admin/projects/project/{project.pk}/change/",
        {
            "name": project.name,
            "description": project.description,
            "owner": project.owner.pk,
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-id": owner_membership.pk,
            "memberships-0-project": project.pk,
            "memberships-0-user": project.owner.pk,
            "memberships-0-role": "viewer",
        },
    )
    assert response.status_code == 200
    assert "keeps at least one owner" in response.content.decode()
    assert ProjectMembership.objects.get(pk=owner_membership.pk).role == "owner"


def test_dataset_admin_shows_hash_and_profile_read_only(admin_client):
    dataset = DatasetFactory(name="titanic")
    listing = admin_client.get("/admin/projects/dataset/?q=titanic")
    assert listing.status_code == 200 and "titanic" in listing.content.decode()
    assert admin_client.get("/admin/projects/dataset/?file_format=csv").status_code == 200

    page = admin_client.get(f"/admin/projects/dataset/{dataset.pk}/change/").content.decode()
    assert dataset.sha256 in page
    assert 'name="sha256"' not in page
    assert 'name="name"' in page
    assert admin_client.get("/admin/projects/dataset/add/").status_code == 403
