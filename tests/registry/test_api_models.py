import pytest
from rest_framework.test import APIClient

from apps.projects.choices import ProjectRole
from apps.registry.models import Deployment, ModelVersion
from apps.registry.services import model_version_deploy
from tests.accounts.factories import UserFactory
from tests.projects.factories import ProjectFactory, add_member

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def version(make_version):
    return make_version("iris")


def test_member_lists_registered_models_of_their_projects_only(make_version):
    mine = make_version("iris")
    make_version("iris")  # another project
    viewer = add_member(mine.registered_model.project, ProjectRole.VIEWER)
    response = client_for(viewer).get("/api/v1/registered-models")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [mine.registered_model_id]
    row = response.json()["results"][0]
    assert set(row) >= {"id", "name", "project", "versions", "production_version"}
    assert row["versions"][0]["id"] == mine.pk and row["production_version"] is None


def test_registered_models_filter_by_project(make_version):
    first = make_version("iris")
    admin = UserFactory(roles=["admin"])
    response = client_for(admin).get(f"/api/v1/registered-models?project={first.registered_model.project_id}")
    assert [row["id"] for row in response.json()["results"]] == [first.registered_model_id]
    assert client_for(admin).get("/api/v1/registered-models?project=abc").status_code == 400


def test_registered_model_detail(version):
    owner = version.registered_model.project.owner
    response = client_for(owner).get(f"/api/v1/registered-models/{version.registered_model_id}")
    assert response.status_code == 200
    assert response.json()["name"] == version.registered_model.name
    assert response.json()["project"] == version.registered_model.project_id


def test_model_version_detail_has_the_contract_fields(version):
    owner = version.registered_model.project.owner
    response = client_for(owner).get(f"/api/v1/models/{version.pk}")
    assert response.status_code == 200
    body = response.json()
    assert {
        "id",
        "registered_model",
        "version",
        "status",
        "metrics",
        "features",
        "target",
        "task_type",
        "sha256",
        "job_id",
        "dataset_id",
        "mlflow_run_id",
        "created_at",
    } <= set(body)
    assert body["registered_model"] == version.registered_model_id
    assert body["sha256"] == version.artifact_sha256
    assert body["job_id"] == version.job_id and body["dataset_id"] == version.dataset_id
    assert body["features"][0] == {"name": "sepal length (cm)", "dtype": "float"}
    assert body["task_type"] == "multiclass" and body["target"] == "species"


def test_other_projects_version_is_not_found(version):
    stranger = ProjectFactory().owner
    client = client_for(stranger)
    assert client.get(f"/api/v1/models/{version.pk}").status_code == 404
    assert client.get(f"/api/v1/models/{version.pk}/lineage").status_code == 404
    assert client.get(f"/api/v1/registered-models/{version.registered_model_id}").status_code == 404
    assert client.get("/api/v1/models/999999").status_code == 404


def test_anonymous_gets_401(version):
    client = APIClient()
    assert client.get(f"/api/v1/models/{version.pk}").status_code == 401
    assert client.get("/api/v1/registered-models").status_code == 401


def test_lineage_is_complete(version, approvals):
    approvals.history = [{"from": "submitted", "to": "approved", "by": "rev", "at": "2026-01-01", "comment": "ok"}]
    owner = version.registered_model.project.owner
    model_version_deploy(version=version, user=owner)
    response = client_for(owner).get(f"/api/v1/models/{version.pk}/lineage")
    assert response.status_code == 200
    body = response.json()
    dataset = body["dataset"]
    assert dataset["name"] == "iris" and dataset["sha256"] == version.dataset.sha256
    assert dataset["n_rows"] == 150 and {c["name"] for c in dataset["columns"]} >= {"species"}
    assert body["job"]["id"] == version.job_id
    assert body["job"]["request"]["target"] == "species"
    assert body["job"]["request"]["time_budget"] == 30
    assert body["job"]["timings"]["run_seconds"] == pytest.approx(20, abs=1)
    assert body["mlflow_run_id"] == version.mlflow_run_id
    assert body["approvals"] == approvals.history
    assert body["approval_state"] == "approved"
    assert body["deployments"][0]["action"] == "deploy" and body["deployments"][0]["deployed_by"] == owner.username


def test_lineage_without_governance_has_no_approvals(version):
    body = client_for(version.registered_model.project.owner).get(f"/api/v1/models/{version.pk}/lineage").json()
    assert body["approvals"] == [] and body["approval_state"] is None and body["deployments"] == []


def test_editor_sets_intended_use_and_limitations(version):
    editor = add_member(version.registered_model.project, ProjectRole.EDITOR, roles=["ml_engineer"])
    response = client_for(editor).patch(
        f"/api/v1/models/{version.pk}",
        {"intended_use": "Sorting iris flowers in the lab.", "limitations": "Only three species."},
    )
    assert response.status_code == 200
    assert response.json()["intended_use"] == "Sorting iris flowers in the lab."
    version.refresh_from_db()
    assert version.card["limitations"] == "Only three species."


def test_viewer_cannot_edit_the_card(version):
    viewer = add_member(version.registered_model.project, ProjectRole.VIEWER, roles=["ml_engineer"])
    response = client_for(viewer).patch(f"/api/v1/models/{version.pk}", {"intended_use": "x"})
    assert response.status_code == 403


def test_edit_without_fields_is_400(version):
    response = client_for(version.registered_model.project.owner).patch(f"/api/v1/models/{version.pk}", {})
    assert response.status_code == 400


def test_delete_needs_models_delete_capability(version):
    owner = version.registered_model.project.owner  # ml_engineer: no models:delete
    response = client_for(owner).delete(f"/api/v1/models/{version.pk}")
    assert response.status_code == 403
    assert "models:delete" in response.json()["detail"]


def test_admin_deletes_an_undeployed_version(version):
    admin = UserFactory(roles=["admin"])
    assert client_for(admin).delete(f"/api/v1/models/{version.pk}").status_code == 204
    assert not ModelVersion.objects.filter(pk=version.pk).exists()


def test_deleting_the_deployed_version_is_409(version, approvals):
    model_version_deploy(version=version, user=version.registered_model.project.owner)
    admin = UserFactory(roles=["admin"])
    response = client_for(admin).delete(f"/api/v1/models/{version.pk}")
    assert response.status_code == 409
    assert "deployed" in response.json()["detail"]
    assert ModelVersion.objects.filter(pk=version.pk).exists()
    assert Deployment.objects.filter(model_version=version).exists()


def test_deleting_a_version_drops_its_loaded_predictor_and_extracted_folder(
    make_version, trained, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.registry import serving
    from apps.registry.mlflow_sync import registered_model_mlflow_sync

    version = make_version("iris")
    registered_model_mlflow_sync(registered_model_id=version.registered_model_id)
    owner_client = client_for(version.registered_model.project.owner)
    response = owner_client.post(
        f"/api/v1/models/{version.pk}/predict", {"instances": trained["iris"].rows[:1]}, format="json"
    )
    assert response.status_code == 200
    folder = serving.cache_root() / version.artifact_sha256
    assert folder.is_dir() and version.pk in serving.predictor_cache
    removed = []
    monkeypatch.setattr(
        "apps.registry.tasks.delete_mlflow_model_version.delay", lambda name, number: removed.append((name, number))
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(UserFactory(roles=["admin"])).delete(f"/api/v1/models/{version.pk}").status_code == 204
    assert not folder.exists() and version.pk not in serving.predictor_cache
    assert removed == [(version.registered_model.mlflow_name, "1")]


def test_paths_answer_with_a_trailing_slash_too(version):
    client = client_for(version.registered_model.project.owner)
    assert client.get(f"/api/v1/models/{version.pk}/").json()["id"] == version.pk
    assert client.get(f"/api/v1/registered-models/{version.registered_model_id}/").status_code == 200
