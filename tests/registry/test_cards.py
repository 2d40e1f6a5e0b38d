import pytest
from rest_framework.test import APIClient

from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(make_version):
    return make_version("titanic")


def owner_client(version) -> APIClient:
    client = APIClient()
    client.force_authenticate(version.registered_model.project.owner)
    return client


def test_card_as_json(version):
    response = owner_client(version).get(f"/api/v1/models/{version.pk}/card")
    assert response.status_code == 200
    card = response.json()
    assert card["model"]["name"] == version.registered_model.name
    assert card["metrics"] == version.metrics
    assert card["training_data"]["n_rows"] == version.dataset.n_rows
    assert card["leaderboard"][0]["model"]
    assert card["feature_importances"] == [] and card["approvals"] == []
    assert card == owner_client(version).get(f"/api/v1/models/{version.pk}/card?format=json").json()


def test_card_as_html_contains_the_metrics(version):
    response = owner_client(version).get(f"/api/v1/models/{version.pk}/card?format=html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert version.registered_model.name in html
    for name, value in version.metrics.items():
        assert name in html
        assert f"{value:.4f}" in html
    assert "<script" not in html and "style=" not in html


def test_card_as_pdf(version):
    response = owner_client(version).get(f"/api/v1/models/{version.pk}/card?format=pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert len(response.content) > 2000


def test_unknown_card_format_is_400(version):
    response = owner_client(version).get(f"/api/v1/models/{version.pk}/card?format=docx")
    assert response.status_code == 400
    assert "format" in response.json()


def test_card_is_regenerated_when_its_inputs_change(version):
    generated = version.card_generated_at
    client = owner_client(version)
    client.patch(f"/api/v1/models/{version.pk}", {"limitations": "Passenger list of one voyage only."})
    card = client.get(f"/api/v1/models/{version.pk}/card").json()
    assert card["limitations"] == "Passenger list of one voyage only."
    version.refresh_from_db()
    assert version.card_generated_at > generated


def test_card_picks_up_feature_importances_when_an_explanation_exists(version):
    from apps.registry import hooks

    importances = {"Sex": 0.4, "Age": -0.1, "PClass": 0.2}
    with hooks.override(feature_importances=lambda versions: {v.pk: importances for v in versions}):
        card = owner_client(version).get(f"/api/v1/models/{version.pk}/card").json()
    assert [item["feature"] for item in card["feature_importances"]] == ["Sex", "PClass", "Age"]


def test_card_of_other_project_is_404(version):
    client = APIClient()
    client.force_authenticate(ProjectFactory().owner)
    assert client.get(f"/api/v1/models/{version.pk}/card?format=pdf").status_code == 404
    assert APIClient().get(f"/api/v1/models/{version.pk}/card").status_code == 401
