import pytest
from django.test import Client

from apps.projects.choices import ProjectRole
from apps.registry.models import BatchPrediction, Deployment
from tests.projects.factories import DatasetFactory, ProjectFactory, add_member

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def version(make_version):
    return make_version("iris")


def test_project_models_page_lists_its_registered_models(version):
    client = logged_in(add_member(version.registered_model.project, ProjectRole.VIEWER))
    response = client.get(f"/projects/{version.registered_model.project_id}/models/")
    assert response.status_code == 200
    assert version.registered_model.name in response.content.decode()


def test_version_page_shows_the_card_and_a_prediction_form(version):
    client = logged_in(version.registered_model.project.owner)
    response = client.get(f"/registry/versions/{version.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "accuracy" in html and "Try a prediction" in html and "sepal length (cm)" in html
    assert "js/registry.js" in html and "<script>" not in html and "style=" not in html
    assert "Deploy v1" not in html  # not approved: no button that could only answer 409


def test_version_page_offers_deploy_once_the_version_is_approved(version, approvals):
    html = logged_in(version.registered_model.project.owner).get(f"/registry/versions/{version.pk}/").content.decode()
    assert "Deploy v1" in html


def test_pages_of_other_projects_are_404(version):
    client = logged_in(ProjectFactory().owner)
    assert client.get(f"/registry/versions/{version.pk}/").status_code == 404
    assert client.get(f"/registry/models/{version.registered_model_id}/").status_code == 404
    assert client.get(f"/projects/{version.registered_model.project_id}/models/").status_code == 404
    assert client.post(f"/registry/versions/{version.pk}/deploy").status_code == 404


def test_pages_need_a_login(version):
    response = Client().get(f"/registry/versions/{version.pk}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_deploy_button_without_approval_explains_why(version):
    client = logged_in(version.registered_model.project.owner)
    response = client.post(f"/registry/versions/{version.pk}/deploy", follow=True)
    assert "has no approved approval request" in response.content.decode()
    assert not Deployment.objects.exists()


def test_deploy_and_rollback_from_the_pages(make_version, approvals):
    dataset = DatasetFactory(project=ProjectFactory(), name="iris")
    v1, v2 = make_version("iris", dataset=dataset), make_version("iris", dataset=dataset)
    client = logged_in(dataset.project.owner)
    client.post(f"/registry/versions/{v1.pk}/deploy", {"comment": "first"})
    client.post(f"/registry/versions/{v2.pk}/deploy")
    page = client.get(f"/registry/models/{v1.registered_model_id}/").content.decode()
    assert "Roll back to v1" in page
    response = client.post(f"/registry/models/{v1.registered_model_id}/rollback", {"comment": "bad"}, follow=True)
    assert "rolled back" in response.content.decode()
    v1.registered_model.refresh_from_db()
    assert v1.registered_model.production_version == v1


def test_editor_edits_the_card_from_the_page(version):
    editor = add_member(version.registered_model.project, ProjectRole.EDITOR, roles=["ml_engineer"])
    client = logged_in(editor)
    client.post(f"/registry/versions/{version.pk}/card", {"intended_use": "Teaching.", "limitations": "Toy data."})
    version.refresh_from_db()
    assert version.intended_use == "Teaching." and version.card["limitations"] == "Toy data."


def test_viewer_cannot_edit_the_card_from_the_page(version):
    client = logged_in(add_member(version.registered_model.project, ProjectRole.VIEWER, roles=["ml_engineer"]))
    response = client.post(f"/registry/versions/{version.pk}/card", {"intended_use": "x"}, follow=True)
    version.refresh_from_db()
    assert version.intended_use == "" and "editor role" in response.content.decode()


def test_batch_prediction_is_queued_from_the_page(version):
    client = logged_in(version.registered_model.project.owner)
    client.post(f"/registry/versions/{version.pk}/batch", {"dataset_id": version.dataset_id})
    assert BatchPrediction.objects.filter(model_version=version, dataset=version.dataset).exists()
