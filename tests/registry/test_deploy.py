import pytest
from rest_framework.test import APIClient

from apps.projects.choices import ProjectRole
from apps.registry.choices import DeploymentAction, VersionStatus
from apps.registry.models import Deployment, RegisteredModel
from apps.registry.signals import model_version_deployed
from tests.projects.factories import DatasetFactory, ProjectFactory, add_member

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def versions(make_version):
    """Three versions of one registered model."""
    project = ProjectFactory()
    dataset = DatasetFactory(project=project, name="iris")
    return [make_version("iris", dataset=dataset) for _ in range(3)]


def deploy(client, version, **body):
    return client.post(f"/api/v1/models/{version.pk}/deploy", body)


def test_deploy_without_approval_is_409_naming_the_missing_approval(versions):
    v1 = versions[0]
    response = deploy(client_for(v1.registered_model.project.owner), v1)
    assert response.status_code == 409
    assert response.json()["detail"].startswith("model version 1 has no approved approval request")
    assert response.json()["missing"] == "approval"
    assert not Deployment.objects.exists()
    assert RegisteredModel.objects.get(pk=v1.registered_model_id).production_version is None


def test_deploy_with_an_approval_not_yet_approved_is_409(versions, approvals):
    approvals.state = "review"
    response = deploy(client_for(versions[0].registered_model.project.owner), versions[0])
    assert response.status_code == 409
    assert "'review', not 'approved'" in response.json()["detail"]


def test_approved_version_is_deployed_and_recorded(
    versions, approvals, monkeypatch, django_capture_on_commit_callbacks
):
    v1, v2, _ = versions
    owner = v1.registered_model.project.owner
    client = client_for(owner)
    sent, queued = [], []
    monkeypatch.setattr("apps.registry.tasks.sync_registered_model_to_mlflow.delay", lambda *args: queued.append(args))
    model_version_deployed.connect(lambda **kwargs: sent.append(kwargs), weak=False, dispatch_uid="t-deployed")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = deploy(client, v1, comment="first release")
    finally:
        model_version_deployed.disconnect(dispatch_uid="t-deployed")
    assert queued == [(v1.registered_model_id,)]
    assert sent[0]["version_id"] == v1.pk and sent[0]["action"] == "deploy"
    assert response.status_code == 201
    body = response.json()
    assert body["model_version"] == v1.pk and body["previous_version"] is None
    assert body["deployed_by"] == owner.username and body["action"] == "deploy" and body["comment"] == "first release"

    response = deploy(client, v2)
    assert response.status_code == 201
    assert response.json()["previous_version"] == v1.pk and response.json()["previous_version_number"] == 1

    registered_model = client.get(f"/api/v1/registered-models/{v1.registered_model_id}").json()
    assert registered_model["production_version"] == v2.pk
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert v1.status == VersionStatus.ARCHIVED and v2.status == VersionStatus.PRODUCTION


def test_deploying_the_production_version_again_is_409(versions, approvals):
    client = client_for(versions[0].registered_model.project.owner)
    assert deploy(client, versions[0]).status_code == 201
    response = deploy(client, versions[0])
    assert response.status_code == 409 and "already the production version" in response.json()["detail"]


def test_rollback_returns_to_the_previous_production_version(versions, approvals):
    v1, v2, v3 = versions
    client = client_for(v1.registered_model.project.owner)
    rollback_url = f"/api/v1/registered-models/{v1.registered_model_id}/rollback"
    assert client.post(rollback_url).status_code == 409  # nothing deployed yet
    for version in (v1, v2, v3):
        assert deploy(client, version).status_code == 201

    response = client.post(rollback_url, {"comment": "v3 misbehaves"})
    assert response.status_code == 201
    body = response.json()
    assert body["action"] == DeploymentAction.ROLLBACK
    assert body["model_version"] == v2.pk and body["previous_version"] == v3.pk
    assert RegisteredModel.objects.get(pk=v1.registered_model_id).production_version == v2

    assert client.post(rollback_url).json()["model_version"] == v1.pk
    response = client.post(rollback_url)
    assert response.status_code == 409
    assert "no earlier production version" in response.json()["detail"]
    assert RegisteredModel.objects.get(pk=v1.registered_model_id).production_version == v1

    history = client.get(f"/api/v1/registered-models/{v1.registered_model_id}/deployments").json()["results"]
    assert [row["action"] for row in history] == ["rollback", "rollback", "deploy", "deploy", "deploy"]


def test_deploy_through_the_registered_model(versions, approvals):
    v1, v2, _ = versions
    client = client_for(v1.registered_model.project.owner)
    url = f"/api/v1/registered-models/{v1.registered_model_id}/deploy"
    assert client.post(url, {"version": 2}).json()["model_version"] == v2.pk
    assert client.post(url, {"model_version_id": v1.pk}).json()["model_version"] == v1.pk
    assert client.post(url, {}).status_code == 400
    assert client.post(url, {"version": 99}).status_code == 400


def test_deploy_through_the_training_job(make_job, approvals):
    from apps.registry.services import model_version_register_from_job

    job = make_job("boston")
    client = client_for(job.project.owner)
    response = client.post(f"/api/v1/automl/jobs/{job.pk}/deploy")
    assert response.status_code == 409
    assert "no registered model version" in response.json()["detail"]
    version = model_version_register_from_job(job_id=job.pk)
    response = client.post(f"/api/v1/automl/jobs/{job.pk}/deploy")
    assert response.status_code == 201 and response.json()["model_version"] == version.pk


def test_training_job_deploy_without_approval_is_409(make_version):
    version = make_version("boston")
    response = client_for(version.job.created_by).post(f"/api/v1/automl/jobs/{version.job_id}/deploy")
    assert response.status_code == 409
    assert "has no approved approval request" in response.json()["detail"]


def test_viewer_and_engineer_without_editor_role_cannot_deploy(versions, approvals):
    project = versions[0].registered_model.project
    viewer = add_member(project, ProjectRole.VIEWER, roles=["ml_engineer"])
    editor_without_capability = add_member(project, ProjectRole.EDITOR, roles=["viewer"])
    assert deploy(client_for(viewer), versions[0]).status_code == 403
    assert deploy(client_for(editor_without_capability), versions[0]).status_code == 403
    assert client_for(viewer).post(f"/api/v1/registered-models/{project.pk}/rollback").status_code in (403, 404)


def test_deploy_in_other_project_is_404_and_anonymous_401(versions, approvals):
    assert deploy(client_for(ProjectFactory().owner), versions[0]).status_code == 404
    assert deploy(APIClient(), versions[0]).status_code == 401
    assert client_for(ProjectFactory().owner).post("/api/v1/automl/jobs/999999/deploy").status_code == 404
