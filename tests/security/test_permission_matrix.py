"""Each role against each permission-gated action, as real API requests (see docs/permissions.md).

allowed -> 2xx, visible but not allowed -> 403, an object of a project the caller cannot see -> 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.accounts.roles import CAPABILITIES, ROLE_CAPABILITIES, Role, has_capability
from apps.core.exceptions import NotFound, PermissionDenied
from apps.projects.permissions import check_project_access
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import client_for
from tests.conftest import EXAMPLES
from tests.projects.factories import DatasetFactory, ProjectFactory, add_member

pytestmark = pytest.mark.django_db
DOCS = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


@dataclass
class World:
    project: object
    other_project: object
    dataset: object
    other_dataset: object
    target: object
    actors: dict


@pytest.fixture
def world() -> World:
    project = ProjectFactory(name="Churn")
    other_project = ProjectFactory(name="Secret")
    actors = {
        "admin": UserFactory(roles=["admin"]),
        "ml_engineer": UserFactory(roles=["ml_engineer"]),
        "reviewer": UserFactory(roles=["reviewer"]),
        "viewer": UserFactory(roles=["viewer"]),
        "owner": project.owner,
        "editor": add_member(project, "editor", roles=["ml_engineer"]),
        "editor_without_capability": add_member(project, "editor", roles=["viewer"]),
        "project_viewer": add_member(project, "viewer", roles=["ml_engineer"]),
        "outsider": add_member(other_project, "owner", roles=["ml_engineer"]),
    }
    return World(
        project=project,
        other_project=other_project,
        dataset=DatasetFactory(project=project, name="iris"),
        other_dataset=DatasetFactory(project=other_project, name="penguins"),
        target=UserFactory(roles=["viewer"]),
        actors=actors,
    )


def csv_upload(name="upload.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (EXAMPLES / "boston.csv").read_bytes(), content_type="text/csv")


# (id, actor, method, path template, body builder or None, expected status)
CASES = [
    # --- global roles: projects:create -------------------------------------------------------------
    ("admin-creates-project", "admin", "post", "/api/v1/projects", lambda w: {"name": "A"}, 201),
    ("ml_engineer-creates-project", "ml_engineer", "post", "/api/v1/projects", lambda w: {"name": "B"}, 201),
    ("reviewer-cannot-create-project", "reviewer", "post", "/api/v1/projects", lambda w: {"name": "C"}, 403),
    ("viewer-cannot-create-project", "viewer", "post", "/api/v1/projects", lambda w: {"name": "D"}, 403),
    # --- global roles: users:manage -----------------------------------------------------------------
    ("admin-lists-users", "admin", "get", "/api/v1/users", None, 200),
    ("ml_engineer-cannot-list-users", "ml_engineer", "get", "/api/v1/users", None, 403),
    ("reviewer-cannot-list-users", "reviewer", "get", "/api/v1/users", None, 403),
    ("viewer-cannot-list-users", "viewer", "get", "/api/v1/users", None, 403),
    ("admin-creates-user", "admin", "post", "/api/v1/users",
     lambda w: {"username": "n1", "email": "n1@example.org", "password": PASSWORD, "roles": ["viewer"]}, 201),
    ("ml_engineer-cannot-create-user", "ml_engineer", "post", "/api/v1/users",
     lambda w: {"username": "n2", "email": "n2@example.org", "password": PASSWORD}, 403),
    ("reviewer-cannot-create-user", "reviewer", "post", "/api/v1/users",
     lambda w: {"username": "n3", "email": "n3@example.org", "password": PASSWORD}, 403),
    ("viewer-cannot-create-user", "viewer", "post", "/api/v1/users",
     lambda w: {"username": "n4", "email": "n4@example.org", "password": PASSWORD}, 403),
    ("admin-changes-roles", "admin", "patch", "/api/v1/users/{target}/roles", lambda w: {"roles": ["reviewer"]}, 200),
    ("ml_engineer-cannot-change-roles", "ml_engineer", "patch", "/api/v1/users/{target}/roles",
     lambda w: {"roles": ["admin"]}, 403),
    ("reviewer-cannot-change-roles", "reviewer", "patch", "/api/v1/users/{target}/roles",
     lambda w: {"roles": ["admin"]}, 403),
    ("viewer-cannot-grant-self-admin", "viewer", "patch", "/api/v1/users/{self}/roles",
     lambda w: {"roles": ["admin"]}, 403),
    ("admin-deactivates-user", "admin", "delete", "/api/v1/users/{target}", None, 204),
    ("ml_engineer-cannot-deactivate", "ml_engineer", "delete", "/api/v1/users/{target}", None, 403),
    ("reviewer-cannot-deactivate", "reviewer", "delete", "/api/v1/users/{target}", None, 403),
    ("viewer-cannot-deactivate", "viewer", "delete", "/api/v1/users/{target}", None, 403),
    ("every-role-reads-me", "viewer", "get", "/api/v1/auth/me", None, 200),
    # --- project roles: view ------------------------------------------------------------------------
    ("owner-sees-project", "owner", "get", "/api/v1/projects/{project}", None, 200),
    ("editor-sees-project", "editor", "get", "/api/v1/projects/{project}", None, 200),
    ("project_viewer-sees-project", "project_viewer", "get", "/api/v1/projects/{project}", None, 200),
    ("platform-admin-sees-any-project", "admin", "get", "/api/v1/projects/{project}", None, 200),
    ("outsider-gets-404-for-project", "outsider", "get", "/api/v1/projects/{project}", None, 404),
    ("global-reviewer-outside-gets-404", "reviewer", "get", "/api/v1/projects/{project}", None, 404),
    # --- project roles: manage the project ----------------------------------------------------------
    ("owner-edits-project", "owner", "patch", "/api/v1/projects/{project}", lambda w: {"description": "x"}, 200),
    ("editor-cannot-edit-project-settings", "editor", "patch", "/api/v1/projects/{project}",
     lambda w: {"description": "x"}, 403),
    ("project_viewer-cannot-edit-project", "project_viewer", "patch", "/api/v1/projects/{project}",
     lambda w: {"description": "x"}, 403),
    ("outsider-gets-404-editing-project", "outsider", "patch", "/api/v1/projects/{project}",
     lambda w: {"description": "x"}, 404),
    ("owner-adds-member", "owner", "post", "/api/v1/projects/{project}/members",
     lambda w: {"user_id": w.target.pk, "role": "viewer"}, 201),
    ("editor-cannot-add-member", "editor", "post", "/api/v1/projects/{project}/members",
     lambda w: {"user_id": w.target.pk, "role": "viewer"}, 403),
    ("project_viewer-cannot-add-member", "project_viewer", "post", "/api/v1/projects/{project}/members",
     lambda w: {"user_id": w.target.pk, "role": "viewer"}, 403),
    ("outsider-gets-404-adding-member", "outsider", "post", "/api/v1/projects/{project}/members",
     lambda w: {"user_id": w.target.pk, "role": "viewer"}, 404),
    ("project_viewer-lists-members", "project_viewer", "get", "/api/v1/projects/{project}/members", None, 200),
    ("outsider-gets-404-listing-members", "outsider", "get", "/api/v1/projects/{project}/members", None, 404),
    # --- datasets -------------------------------------------------------------------------------------
    ("project_viewer-reads-dataset", "project_viewer", "get", "/api/v1/datasets/{dataset}", None, 200),
    ("outsider-gets-404-for-dataset", "outsider", "get", "/api/v1/datasets/{dataset}", None, 404),
    ("member-gets-404-for-other-projects-dataset", "editor", "get", "/api/v1/datasets/{other_dataset}", None, 404),
    ("outsider-gets-404-listing-by-project", "outsider", "get", "/api/v1/datasets?project={project}", None, 404),
    ("editor-uploads-dataset", "editor", "multipart", "/api/v1/datasets",
     lambda w: {"project": w.project.pk, "name": "upload", "file": csv_upload()}, 201),
    ("editor-without-capability-cannot-upload", "editor_without_capability", "multipart", "/api/v1/datasets",
     lambda w: {"project": w.project.pk, "name": "upload", "file": csv_upload()}, 403),
    ("project_viewer-cannot-upload", "project_viewer", "multipart", "/api/v1/datasets",
     lambda w: {"project": w.project.pk, "name": "upload", "file": csv_upload()}, 403),
    ("outsider-gets-404-uploading", "outsider", "multipart", "/api/v1/datasets",
     lambda w: {"project": w.project.pk, "name": "upload", "file": csv_upload()}, 404),
    ("editor-deletes-dataset", "editor", "delete", "/api/v1/datasets/{dataset}", None, 204),
    ("editor-without-capability-cannot-delete", "editor_without_capability", "delete", "/api/v1/datasets/{dataset}",
     None, 403),
    ("project_viewer-cannot-delete-dataset", "project_viewer", "delete", "/api/v1/datasets/{dataset}", None, 403),
    ("outsider-gets-404-deleting-dataset", "outsider", "delete", "/api/v1/datasets/{dataset}", None, 404),
]  # fmt: skip


@pytest.mark.parametrize(
    ("actor", "method", "path", "body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_role_against_action(world, actor, method, path, body, expected):
    user = world.actors[actor]
    url = path.format(
        project=world.project.pk,
        dataset=world.dataset.pk,
        other_dataset=world.other_dataset.pk,
        target=world.target.pk,
        self=user.pk,
    )
    client = client_for(user)
    payload = body(world) if body else None
    if method == "multipart":
        response = client.post(url, payload, format="multipart")
    elif payload is None:
        response = getattr(client, method)(url)
    else:
        response = getattr(client, method)(url, payload, format="json")
    assert response.status_code == expected, response.content[:500]


# --- service layer: capabilities whose endpoints live in other apps ----------------------------------
@pytest.mark.parametrize("role", [role.value for role in Role])
@pytest.mark.parametrize("capability", sorted(CAPABILITIES))
def test_global_role_capabilities_follow_the_table(role, capability):
    user = UserFactory(roles=[role])
    assert has_capability(user, capability) is (capability in ROLE_CAPABILITIES[role])


@pytest.mark.parametrize(
    ("project_role", "global_role", "minimum", "capability", "outcome"),
    [
        ("owner", "ml_engineer", "editor", "automl:run", "allowed"),
        ("editor", "ml_engineer", "editor", "automl:run", "allowed"),
        ("editor", "reviewer", "editor", "automl:run", "denied"),
        ("viewer", "ml_engineer", "editor", "automl:run", "denied"),
        (None, "ml_engineer", "editor", "automl:run", "not found"),
        ("editor", "ml_engineer", "editor", "models:deploy", "allowed"),
        ("editor", "viewer", "editor", "models:deploy", "denied"),
        ("owner", "ml_engineer", "owner", "models:delete", "denied"),
        ("owner", "admin", "owner", "models:delete", "allowed"),
        ("viewer", "reviewer", "viewer", None, "allowed"),
    ],
)
def test_project_role_and_capability_together(project_role, global_role, minimum, capability, outcome):
    project = ProjectFactory()
    user = add_member(project, project_role, roles=[global_role]) if project_role else UserFactory(roles=[global_role])
    if outcome == "allowed":
        check_project_access(user=user, project=project, minimum=minimum, capability=capability)
    else:
        with pytest.raises(NotFound if outcome == "not found" else PermissionDenied):
            check_project_access(user=user, project=project, minimum=minimum, capability=capability)


def test_documented_matrix_matches_the_code():
    """docs/permissions.md's capability table says exactly what ROLE_CAPABILITIES grants."""
    text = DOCS.read_text()
    header = next(line for line in text.splitlines() if line.startswith("| capability |"))
    roles = [cell.strip().strip("`") for cell in header.strip("|").split("|")[2:]]
    assert roles == ["admin", "ml_engineer", "reviewer", "viewer"]
    documented = {}
    for line in text.splitlines():
        match = re.match(r"^\|\s*`([a-z_]+:[a-z_]+)`\s*\|", line)
        if match:
            cells = [cell.strip() for cell in line.strip("|").split("|")[2:]]
            documented[match.group(1)] = {role for role, cell in zip(roles, cells, strict=True) if cell == "yes"}
    assert set(documented) == set(CAPABILITIES)
    for capability, granted in documented.items():
        assert granted == {role for role in roles if capability in ROLE_CAPABILITIES[role]}, capability
