import pytest
from django.test import Client

from apps.registry.services import model_version_deploy
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    user = UserFactory(roles=["admin"], is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def test_registered_model_admin_shows_versions_and_deployments_inline(admin_client, make_version, approvals):
    version = make_version("iris")
    model_version_deploy(version=version, user=version.registered_model.project.owner, comment="go live")
    response = admin_client.get(f"/admin/registry/registeredmodel/{version.registered_model_id}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert version.artifact_sha256 in html and "go live" in html and "Mlflow sync status" in html


def test_model_version_admin_shows_read_only_lineage_and_sync_state(admin_client, make_version):
    version = make_version("titanic")
    response = admin_client.get(f"/admin/registry/modelversion/{version.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Lineage" in html and version.dataset.sha256 in html and version.mlflow_run_id in html
    assert 'name="artifact_sha256"' not in html  # read-only
    assert admin_client.get("/admin/registry/modelversion/?mlflow_sync_status__exact=pending").status_code == 200


def test_deployment_history_admin_is_read_only(admin_client, make_version, approvals):
    version = make_version("boston")
    model_version_deploy(version=version, user=version.registered_model.project.owner)
    assert admin_client.get("/admin/registry/deployment/").status_code == 200
    assert admin_client.get("/admin/registry/deployment/add/").status_code == 403
    assert admin_client.get("/admin/registry/batchprediction/").status_code == 200
