"""Projects API: create, list, read, rename, archive and delete, each with its permission rules."""

from __future__ import annotations

import pytest
from guardian.models import UserObjectPermission
from rest_framework.test import APIClient

from apps.core.exceptions import Conflict
from apps.projects.models import Project, ProjectMembership
from apps.projects.services import project_ensure_active
from tests.accounts.factories import UserFactory
from tests.projects.conftest import client_for, upload
from tests.projects.factories import DatasetFactory, ProjectFactory, add_member

pytestmark = pytest.mark.django_db


def test_engineer_creates_a_project_and_becomes_its_owner():
    engineer = UserFactory(roles=["ml_engineer"])
    response = client_for(engineer).post("/api/v1/projects", {"name": "Churn", "description": "Who leaves?"})

    assert response.status_code == 201
    body = response.json()
    assert {key: body[key] for key in ("name", "description", "owner", "role", "is_archived")} == {
        "name": "Churn",
        "description": "Who leaves?",
        "owner": engineer.pk,
        "role": "owner",
        "is_archived": False,
    }
    assert {"id", "created_at"} <= body.keys()
    membership = ProjectMembership.objects.get(project_id=body["id"], user=engineer)
    assert membership.role == "owner"
    assert engineer.has_perm("projects.manage_project", Project.objects.get(pk=body["id"]))


def test_viewer_role_cannot_create_projects():
    response = client_for(UserFactory(roles=["viewer"])).post("/api/v1/projects", {"name": "Nope"})
    assert response.status_code == 403
    assert "projects:create" in response.json()["detail"]


@pytest.mark.parametrize("payload,field", [({"name": ""}, "name"), ({"description": "no name"}, "name")])
def test_project_without_a_name_is_refused(payload, field):
    response = client_for(UserFactory(roles=["ml_engineer"])).post("/api/v1/projects", payload)
    assert response.status_code == 400
    assert field in response.json()


def test_project_names_are_unique_per_owner():
    project = ProjectFactory(name="Churn")
    response = client_for(project.owner).post("/api/v1/projects", {"name": "Churn"})
    assert response.status_code == 400
    assert "already have a project named 'Churn'" in response.json()["name"][0]
    assert client_for(UserFactory(roles=["ml_engineer"])).post("/api/v1/projects", {"name": "Churn"}).status_code == 201


def test_list_shows_only_the_users_projects_with_their_role():
    mine, _ = ProjectFactory(), ProjectFactory()
    viewer = add_member(mine, "viewer")
    DatasetFactory(project=mine)
    body = client_for(viewer).get("/api/v1/projects").json()

    assert body["count"] == 1
    assert body["results"][0] | {"id": mine.pk, "role": "viewer", "n_datasets": 1} == body["results"][0]


def test_other_projects_answer_404():
    project = ProjectFactory()
    outsider = client_for(UserFactory(roles=["ml_engineer"]))
    assert outsider.get(f"/api/v1/projects/{project.pk}").status_code == 404
    assert outsider.patch(f"/api/v1/projects/{project.pk}", {"name": "Mine"}).status_code == 404
    assert outsider.delete(f"/api/v1/projects/{project.pk}").status_code == 404
    assert outsider.get("/api/v1/projects/999999").status_code == 404


def test_owner_renames_and_editor_may_not():
    project = ProjectFactory()
    editor = add_member(project, "editor", roles=["ml_engineer"])

    renamed = client_for(project.owner).patch(f"/api/v1/projects/{project.pk}", {"name": "Renamed", "description": "d"})
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Renamed", "d")
    refused = client_for(editor).patch(f"/api/v1/projects/{project.pk}", {"name": "Mine"})
    assert refused.status_code == 403
    assert client_for(project.owner).patch(f"/api/v1/projects/{project.pk}", {"name": "  "}).status_code == 400


def test_archived_project_stays_readable_and_takes_no_new_datasets(example_csv, nothing_stored):
    project = ProjectFactory()
    dataset = DatasetFactory(project=project)
    viewer = add_member(project, "viewer")
    owner = client_for(project.owner)
    nothing_stored.take()

    archived = owner.patch(f"/api/v1/projects/{project.pk}", {"is_archived": True}, format="json")
    assert archived.status_code == 200 and archived.json()["is_archived"] is True

    assert client_for(viewer).get(f"/api/v1/projects/{project.pk}").status_code == 200
    assert client_for(viewer).get(f"/api/v1/datasets/{dataset.pk}/preview").status_code == 200
    refused = upload(owner, project, example_csv("boston"))
    assert refused.status_code == 409
    assert "archived" in refused.json()["detail"]
    nothing_stored()
    project.refresh_from_db()
    with pytest.raises(Conflict):
        project_ensure_active(project=project)

    owner.patch(f"/api/v1/projects/{project.pk}", {"is_archived": False}, format="json")
    assert upload(owner, project, example_csv("boston")).status_code == 201


def test_project_with_datasets_cannot_be_deleted():
    project = ProjectFactory()
    DatasetFactory(project=project)
    response = client_for(project.owner).delete(f"/api/v1/projects/{project.pk}")
    assert response.status_code == 409
    assert "still has 1 dataset" in response.json()["detail"]
    assert Project.objects.filter(pk=project.pk).exists()


def test_owner_deletes_an_empty_project_and_its_permissions_go_too():
    project = ProjectFactory()
    editor = add_member(project, "editor")
    assert client_for(editor).delete(f"/api/v1/projects/{project.pk}").status_code == 403

    assert client_for(project.owner).delete(f"/api/v1/projects/{project.pk}").status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not UserObjectPermission.objects.filter(object_pk=str(project.pk)).exists()


@pytest.mark.parametrize(
    "method,path",
    [("get", "/api/v1/projects"), ("post", "/api/v1/projects"), ("get", "/api/v1/projects/1")],
)
def test_without_a_token_projects_answer_401(method, path):
    assert getattr(APIClient(), method)(path).status_code == 401
