"""Datasets are only seen by members of their project, and only editors with the capability change them."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from apps.automl.models import TrainingJob
from apps.projects.models import Dataset
from tests.accounts.factories import PASSWORD, UserFactory
from tests.projects.conftest import client_for, stored_files, upload
from tests.projects.factories import DatasetFactory, ProjectFactory, add_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_projects():
    """Project A with a viewer (an ml_engineer by global role), project B with a dataset the viewer must not see."""
    project_a, project_b = ProjectFactory(), ProjectFactory()
    viewer = add_member(project_a, "viewer", roles=["ml_engineer"])
    return project_a, project_b, viewer, DatasetFactory(project=project_a), DatasetFactory(project=project_b)


def test_viewer_of_a_lists_only_datasets_of_a(two_projects):
    project_a, project_b, viewer, dataset_a, dataset_b = two_projects
    client = client_for(viewer)

    listed = client.get("/api/v1/datasets").json()
    assert [row["id"] for row in listed["results"]] == [dataset_a.pk]
    assert client.get(f"/api/v1/datasets?project={project_a.pk}").json()["count"] == 1
    assert client.get(f"/api/v1/datasets?project={project_b.pk}").status_code == 404
    assert client.get("/api/v1/datasets?project=nope").status_code == 400


def test_viewer_of_a_cannot_read_preview_or_delete_datasets_of_b(two_projects):
    _, _, viewer, _, dataset_b = two_projects
    client = client_for(viewer)

    assert client.get(f"/api/v1/datasets/{dataset_b.pk}").status_code == 404
    assert client.get(f"/api/v1/datasets/{dataset_b.pk}/preview").status_code == 404
    assert client.delete(f"/api/v1/datasets/{dataset_b.pk}").status_code == 404
    assert Dataset.objects.filter(pk=dataset_b.pk).exists()


def test_viewer_can_read_and_preview_datasets_of_a(two_projects):
    _, _, viewer, dataset_a, _ = two_projects
    client = client_for(viewer)

    detail = client.get(f"/api/v1/datasets/{dataset_a.pk}")
    assert detail.status_code == 200
    assert detail.json()["sha256"] == dataset_a.sha256
    preview = client.get(f"/api/v1/datasets/{dataset_a.pk}/preview?rows=3").json()
    assert preview["n_rows"] == 3 and preview["total_rows"] == 150
    assert preview["rows"][0] == {
        "sepal length (cm)": 5.1,
        "sepal width (cm)": 3.5,
        "petal length (cm)": 1.4,
        "petal width (cm)": 0.2,
        "species": "setosa",
    }


def test_viewer_cannot_upload_into_a_nor_into_b(two_projects, example_csv, nothing_stored):
    project_a, project_b, viewer, _, _ = two_projects
    client = client_for(viewer)

    refused = upload(client, project_a, example_csv("boston"))
    assert refused.status_code == 403
    assert "editor role" in refused.json()["detail"]
    assert upload(client, project_b, example_csv("boston")).status_code == 404
    nothing_stored()


def test_viewer_cannot_delete_datasets_of_a(two_projects):
    _, _, viewer, dataset_a, _ = two_projects
    assert client_for(viewer).delete(f"/api/v1/datasets/{dataset_a.pk}").status_code == 403
    assert Dataset.objects.filter(pk=dataset_a.pk).exists()


def test_editor_without_the_upload_capability_is_refused(example_csv):
    project = ProjectFactory()
    editor = add_member(project, "editor", roles=["viewer"])
    response = upload(client_for(editor), project, example_csv("iris"))
    assert response.status_code == 403
    assert "datasets:upload" in response.json()["detail"]


def test_editor_with_the_capabilities_uploads_and_deletes(
    example_csv, dataset_storage, django_capture_on_commit_callbacks
):
    project = ProjectFactory()
    editor = add_member(project, "editor", roles=["ml_engineer"])
    client = client_for(editor)
    created = upload(client, project, example_csv("iris"))
    assert created.status_code == 201
    dataset = Dataset.objects.get(pk=created.json()["id"])
    assert dataset.created_by == editor
    assert dataset.file.name in stored_files(dataset_storage)

    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/v1/datasets/{dataset.pk}").status_code == 204

    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert dataset.file.name not in stored_files(dataset_storage)


def test_deleting_a_dataset_a_training_job_uses_answers_409(dataset_storage):
    dataset = DatasetFactory()
    TrainingJob.objects.create(
        project=dataset.project, dataset=dataset, created_by=dataset.project.owner, target="species", time_budget=30
    )
    response = client_for(dataset.project.owner).delete(f"/api/v1/datasets/{dataset.pk}")

    assert response.status_code == 409
    assert "used by 1 training job" in response.json()["detail"]
    assert Dataset.objects.filter(pk=dataset.pk).exists()
    assert dataset.file.name in stored_files(dataset_storage)


def test_preview_rows_default_cap_and_bad_values(settings):
    settings.DATASET_PREVIEW_MAX_ROWS = 30
    dataset = DatasetFactory(name="titanic")
    client = client_for(dataset.project.owner)
    url = f"/api/v1/datasets/{dataset.pk}/preview"

    assert client.get(url).json()["n_rows"] == 20
    assert client.get(f"{url}?rows=1000").json()["n_rows"] == 30
    assert client.get(f"{url}?rows=0").status_code == 400
    assert "whole number" in client.get(f"{url}?rows=ten").json()["rows"][0]
    titanic_missing_age = client.get(f"{url}?rows=30").json()["rows"]
    assert any(row["Age"] is None for row in titanic_missing_age)


def test_preview_of_a_dataset_whose_file_vanished_answers_409_not_500(dataset_storage):
    dataset = DatasetFactory()
    dataset_storage.delete(dataset.file.name)
    response = client_for(dataset.project.owner).get(f"/api/v1/datasets/{dataset.pk}/preview")
    assert response.status_code == 409
    assert "missing from storage" in response.json()["detail"]


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/api/v1/datasets"),
        ("post", "/api/v1/datasets"),
        ("get", "/api/v1/datasets/1"),
        ("get", "/api/v1/datasets/1/preview"),
        ("delete", "/api/v1/datasets/1"),
    ],
)
def test_without_a_token_every_dataset_endpoint_answers_401(method, path):
    assert getattr(APIClient(), method)(path).status_code == 401


def test_upload_with_a_bearer_token(example_csv):
    project = ProjectFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(project.owner).access_token}")
    assert upload(client, project, example_csv("iris")).status_code == 201


def test_session_upload_needs_the_csrf_token(example_csv, nothing_stored):
    """The upload handler is installed before the CSRF check reads the body; the check still applies."""
    project = ProjectFactory()
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=project.owner.username, password=PASSWORD)
    client.get("/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value

    with open(example_csv("iris"), "rb") as handle:
        refused = client.post("/api/v1/datasets", {"project": project.pk, "file": handle})
    assert refused.status_code == 403
    nothing_stored()
    with open(example_csv("iris"), "rb") as handle:
        accepted = client.post("/api/v1/datasets", {"project": project.pk, "file": handle}, HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201, accepted.content


def test_platform_admin_sees_and_manages_every_dataset(two_projects):
    _, _, _, _, dataset_b = two_projects
    admin = UserFactory(roles=["admin"])
    assert client_for(admin).get(f"/api/v1/datasets/{dataset_b.pk}").status_code == 200
