"""Session pages: landing, project and dataset pages use the same rules as the API."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

from apps.projects.models import Dataset, Project
from tests.accounts.factories import PASSWORD, UserFactory
from tests.projects.factories import DatasetFactory, ProjectFactory, add_member

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def no_inline_script_or_style(html: str) -> bool:
    return not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) and " style=" not in html


def test_landing_invites_anonymous_visitors_to_sign_in():
    response = Client().get("/")
    assert response.status_code == 200
    assert settings.LOGIN_URL in response.content.decode()


def test_landing_lists_the_users_projects_and_offers_creation():
    mine = ProjectFactory(name="Mine")
    ProjectFactory(name="Theirs")
    html = signed_in(mine.owner).get("/").content.decode()
    assert "Mine" in html and "Theirs" not in html
    assert "New project" in html
    assert no_inline_script_or_style(html)


def test_creating_a_project_from_the_landing_page():
    engineer = UserFactory(roles=["ml_engineer"])
    response = signed_in(engineer).post("/projects/new", {"name": "From the page", "description": ""})
    project = Project.objects.get(name="From the page")
    assert response.status_code == 302 and response.url == f"/projects/{project.pk}/"
    assert project.owner == engineer


def test_pages_need_a_login():
    project = ProjectFactory()
    response = Client().get(f"/projects/{project.pk}/")
    assert response.status_code == 302
    assert response.url.startswith(settings.LOGIN_URL)


def test_project_page_shows_datasets_upload_form_and_members():
    dataset = DatasetFactory(name="penguins")
    html = signed_in(dataset.project.owner).get(f"/projects/{dataset.project.pk}/").content.decode()
    assert "penguins" in html
    assert 'enctype="multipart/form-data"' in html
    assert dataset.project.owner.username in html
    assert "js/projects.js" in html
    assert no_inline_script_or_style(html)


def test_viewer_sees_no_upload_form_and_outsider_gets_404():
    project = ProjectFactory()
    viewer = add_member(project, "viewer")
    assert 'enctype="multipart/form-data"' not in signed_in(viewer).get(f"/projects/{project.pk}/").content.decode()
    assert signed_in(UserFactory()).get(f"/projects/{project.pk}/").status_code == 404


def test_upload_through_the_page_leads_to_the_dataset_page(example_csv):
    project = ProjectFactory()
    client = signed_in(project.owner)
    with open(example_csv("iris"), "rb") as handle:
        response = client.post(f"/projects/{project.pk}/upload", {"name": "Flowers", "file": handle})
    dataset = Dataset.objects.get(project=project, name="Flowers")
    assert response.status_code == 302 and response.url == f"/datasets/{dataset.pk}/"

    html = client.get(response.url).content.decode()
    assert "sepal length (cm)" in html and "categorical" in html and "setosa" in html
    assert dataset.sha256 in html
    assert no_inline_script_or_style(html)


def test_bad_upload_through_the_page_shows_the_problem(nothing_stored):
    from django.core.files.uploadedfile import SimpleUploadedFile

    project = ProjectFactory()
    client = signed_in(project.owner)
    response = client.post(
        f"/projects/{project.pk}/upload", {"file": SimpleUploadedFile("bad.csv", b"a,b\n1,2,3\n")}, follow=True
    )
    assert "Line 2 has 3 field(s)" in response.content.decode()
    nothing_stored()


def test_page_upload_over_the_limit_is_refused(settings, nothing_stored):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.DATASET_MAX_UPLOAD_BYTES = 100
    project = ProjectFactory()
    response = signed_in(project.owner).post(
        f"/projects/{project.pk}/upload",
        {"file": SimpleUploadedFile("big.csv", b"a,b\n" + b"1,2\n" * 100)},
        follow=True,
    )
    assert "larger than the 100 bytes" in response.content.decode()
    nothing_stored()


def test_page_upload_checks_csrf(example_csv, nothing_stored):
    project = ProjectFactory()
    client = Client(enforce_csrf_checks=True)
    client.login(username=project.owner.username, password=PASSWORD)
    with open(example_csv("iris"), "rb") as handle:
        assert client.post(f"/projects/{project.pk}/upload", {"file": handle}).status_code == 403
    nothing_stored()


def test_owner_manages_members_and_archive_from_the_page():
    project = ProjectFactory()
    newcomer = UserFactory()
    client = signed_in(project.owner)
    client.post(f"/projects/{project.pk}/members", {"username": newcomer.username, "role": "editor"})
    assert project.memberships.get(user=newcomer).role == "editor"
    client.post(f"/projects/{project.pk}/members/{newcomer.pk}/remove")
    assert not project.memberships.filter(user=newcomer).exists()
    client.post(f"/projects/{project.pk}/edit", {"is_archived": "true"})
    project.refresh_from_db()
    assert project.is_archived
    client.post(f"/projects/{project.pk}/edit", {"project-name": "Renamed", "project-description": "New words"})
    project.refresh_from_db()
    assert (project.name, project.description) == ("Renamed", "New words")


def test_dataset_page_of_another_project_is_404_and_delete_needs_rights(django_capture_on_commit_callbacks):
    dataset = DatasetFactory()
    viewer = add_member(dataset.project, "viewer")
    assert signed_in(UserFactory()).get(f"/datasets/{dataset.pk}/").status_code == 404
    signed_in(viewer).post(f"/datasets/{dataset.pk}/delete")
    assert Dataset.objects.filter(pk=dataset.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(dataset.project.owner).post(f"/datasets/{dataset.pk}/delete")
    assert response.status_code == 302
    assert not Dataset.objects.filter(pk=dataset.pk).exists()


def test_project_script_is_served():
    response = Client().get("/static/js/projects.js")
    assert response.status_code == 200
    assert b"confirm" in b"".join(response.streaming_content)
