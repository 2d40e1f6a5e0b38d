import io
import logging
import tarfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from apps.core.archives import sha256_stream
from apps.projects.choices import ProjectRole
from apps.registry import serving
from apps.registry.models import ModelVersion
from apps.registry.services import model_version_deploy
from tests.projects.factories import ProjectFactory, add_member

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def predict(client, version, instances, **extra):
    return client.post(f"/api/v1/models/{version.pk}/predict", {"instances": instances, **extra}, format="json")


@pytest.mark.parametrize("sample", ["titanic", "iris"])
def test_classification_answers_predictions_and_ordered_probabilities(make_version, trained, sample):
    version = make_version(sample)
    viewer = add_member(version.registered_model.project, ProjectRole.VIEWER)
    rows = trained[sample].rows
    response = predict(client_for(viewer), version, rows)
    assert response.status_code == 200
    body = response.json()
    assert body["model_version_id"] == version.pk and body["version"] == 1
    assert len(body["predictions"]) == len(rows) == len(body["probabilities"])
    assert body["class_labels"] == trained[sample].class_labels
    for prediction, probabilities in zip(body["predictions"], body["probabilities"], strict=True):
        assert len(probabilities) == len(version.class_labels)
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-6)
        assert prediction in version.class_labels
        assert prediction == version.class_labels[probabilities.index(max(probabilities))]


def test_classification_matches_the_raw_predictor(make_version, trained):
    from autogluon.tabular import TabularPredictor

    version = make_version("iris")
    rows = trained["iris"].rows
    body = predict(client_for(version.registered_model.project.owner), version, rows).json()
    raw = TabularPredictor.load(str(serving.extracted_predictor_dir(version)), verbosity=0)
    import pandas as pd

    assert body["predictions"] == raw.predict(pd.DataFrame(rows)).tolist()


def test_regression_answers_numbers_without_probabilities(make_version, trained):
    version = make_version("boston")
    response = predict(client_for(version.registered_model.project.owner), version, trained["boston"].rows)
    assert response.status_code == 200
    body = response.json()
    assert "probabilities" not in body
    assert all(isinstance(value, float) and 3 < value < 60 for value in body["predictions"])


def test_registered_model_predict_uses_the_production_version(make_version, trained, approvals):
    version = make_version("titanic")
    client = client_for(version.registered_model.project.owner)
    url = f"/api/v1/registered-models/{version.registered_model_id}/predict"
    response = client.post(url, {"instances": trained["titanic"].rows[:1]}, format="json")
    assert response.status_code == 409 and "no production version" in response.json()["detail"]
    model_version_deploy(version=version, user=version.registered_model.project.owner)
    response = client.post(url, {"instances": trained["titanic"].rows[:1]}, format="json")
    assert response.status_code == 200 and response.json()["model_version_id"] == version.pk


@pytest.fixture
def titanic(make_version):
    return make_version("titanic")


@pytest.fixture
def row(trained):
    return dict(trained["titanic"].rows[0])


def test_missing_feature_is_400_naming_it(titanic, row):
    del row["Age"]
    response = predict(client_for(titanic.registered_model.project.owner), titanic, [row])
    assert response.status_code == 400
    assert "missing features: 'Age'" in response.json()["instances"][0]


def test_unknown_feature_is_400_naming_it(titanic, row):
    response = predict(client_for(titanic.registered_model.project.owner), titanic, [{**row, "Cabin": "B5"}])
    assert response.status_code == 400
    assert "unknown features: 'Cabin'" in response.json()["instances"][0]


def test_unknown_features_are_dropped_when_asked(titanic, row):
    client = client_for(titanic.registered_model.project.owner)
    response = predict(client, titanic, [{**row, "Cabin": "B5", "Survived": 1}], ignore_extra=True)
    assert response.status_code == 200 and len(response.json()["predictions"]) == 1


def test_mistyped_feature_is_400_naming_it(titanic, row):
    client = client_for(titanic.registered_model.project.owner)
    response = predict(client, titanic, [{**row, "Age": "old"}])
    assert response.status_code == 400
    assert "'Age' expects a number, got str 'old' (instance 0)" in response.json()["instances"][0]
    response = predict(client, titanic, [{**row, "Sex": 1}])
    assert response.status_code == 400 and "'Sex' expects a string" in response.json()["instances"][0]


def test_null_values_are_missing_values_not_errors(titanic, row):
    response = predict(client_for(titanic.registered_model.project.owner), titanic, [{**row, "Age": None}])
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [{}, {"instances": []}, {"instances": {"Age": 3}}, {"instances": [1, 2]}, {"instances": "rows"}],
)
def test_malformed_body_is_400(titanic, body):
    response = client_for(titanic.registered_model.project.owner).post(
        f"/api/v1/models/{titanic.pk}/predict", body, format="json"
    )
    assert response.status_code == 400
    assert "instances" in response.json()


def test_too_many_rows_is_400(titanic, row, settings):
    settings.PREDICT_MAX_ROWS = 3
    response = predict(client_for(titanic.registered_model.project.owner), titanic, [row] * 4)
    assert response.status_code == 400 and "batch predictions" in response.json()["instances"][0]


def test_unknown_version_404_other_project_404_anonymous_401(titanic, row):
    client = client_for(titanic.registered_model.project.owner)
    assert client.post("/api/v1/models/999999/predict", {"instances": [row]}, format="json").status_code == 404
    stranger = client_for(ProjectFactory().owner)
    assert predict(stranger, titanic, [row]).status_code == 404
    assert predict(APIClient(), titanic, [row]).status_code == 401


def test_loaded_predictor_is_reused(titanic, row, monkeypatch):
    loads = []
    real = serving.load_predictor
    monkeypatch.setattr(serving, "load_predictor", lambda version: loads.append(version.pk) or real(version))
    client = client_for(titanic.registered_model.project.owner)
    for _ in range(3):
        assert predict(client, titanic, [row]).status_code == 200
    assert loads == [titanic.pk]
    assert titanic.pk in serving.predictor_cache


def test_cache_keeps_at_most_model_cache_size_predictors(make_version, trained, settings):
    settings.MODEL_CACHE_SIZE = 2
    versions = [make_version(sample) for sample in ("titanic", "iris", "boston")]
    for version in versions:
        response = predict(
            client_for(version.registered_model.project.owner), version, trained[version.dataset.name].rows
        )
        assert response.status_code == 200
    assert len(serving.predictor_cache) == 2
    assert versions[0].pk not in serving.predictor_cache


def test_tampered_archive_is_refused_and_never_loaded(titanic, row, monkeypatch, caplog):
    with default_storage.open(titanic.artifact.name, "rb") as handle:
        content = bytearray(handle.read())
    content[len(content) // 2] ^= 0xFF
    default_storage.delete(titanic.artifact.name)
    default_storage.save(titanic.artifact.name, ContentFile(bytes(content)))
    loads = []
    monkeypatch.setattr("autogluon.tabular.TabularPredictor.load", lambda *a, **k: loads.append(a))
    with caplog.at_level(logging.ERROR, logger="maestro.registry.serving"):
        response = predict(client_for(titanic.registered_model.project.owner), titanic, [row])
    assert response.status_code == 409
    assert "does not match its recorded SHA-256" in response.json()["detail"]
    assert loads == []
    assert any(
        "Refusing to load model version" in record.message and titanic.artifact_sha256 in record.message
        for record in caplog.records
    )


def test_archive_escaping_its_folder_is_refused_even_with_a_matching_hash(titanic, row):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        payload = b"not a model"
        info = tarfile.TarInfo("../../outside.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    name = default_storage.save("automl/jobs/evil/predictor.tar.gz", ContentFile(buffer.getvalue()))
    buffer.seek(0)
    ModelVersion.objects.filter(pk=titanic.pk).update(artifact=name, artifact_sha256=sha256_stream(buffer))
    titanic.refresh_from_db()
    response = predict(client_for(titanic.registered_model.project.owner), titanic, [row])
    assert response.status_code == 409
    assert "leaves the folder" in response.json()["detail"]
    assert not (serving.cache_root().parent / "outside.txt").exists()


def test_validated_frame_has_the_trained_column_types():
    from apps.registry.serving import validate_instances

    features = [
        {"name": "n", "dtype": "int"},
        {"name": "x", "dtype": "float"},
        {"name": "flag", "dtype": "bool"},
        {"name": "when", "dtype": "datetime"},
        {"name": "city", "dtype": "object"},
    ]
    frame = validate_instances(
        features=features,
        instances=[
            {"n": 3, "x": None, "flag": True, "when": "2024-01-02", "city": "Oslo"},
            {"n": 4, "x": 1.5, "flag": False, "when": None, "city": None},
        ],
    )
    assert list(frame.columns) == ["n", "x", "flag", "when", "city"]
    assert str(frame["n"].dtype) == "float64" and frame["x"].isna().tolist() == [True, False]
    assert frame["flag"].tolist() == [True, False] and str(frame["flag"].dtype) == "bool"
    assert str(frame["when"].dtype).startswith("datetime64") and frame["when"].isna().tolist() == [False, True]
    assert frame["city"].tolist() == ["Oslo", None]
    with pytest.raises(Exception, match="'flag' expects true or false"):
        validate_instances(features=features, instances=[{"n": 1, "x": 1, "flag": "yes", "when": None, "city": "a"}])
    with pytest.raises(Exception, match="'when' expects a date/time string"):
        validate_instances(features=features, instances=[{"n": 1, "x": 1, "flag": True, "when": "soon", "city": "a"}])


def test_registered_model_predict_scoping(titanic, row):
    url = f"/api/v1/registered-models/{titanic.registered_model_id}/predict"
    body = {"instances": [row]}
    assert client_for(ProjectFactory().owner).post(url, body, format="json").status_code == 404
    assert APIClient().post(url, body, format="json").status_code == 401
    owner = client_for(titanic.registered_model.project.owner)
    assert owner.post("/api/v1/registered-models/999999/predict", body, format="json").status_code == 404
    assert owner.post(url, {"instances": "x"}, format="json").status_code == 409  # nothing deployed yet


def test_integers_too_large_for_a_float_are_validation_errors():
    from apps.core.exceptions import ValidationError
    from apps.registry.serving import validate_instances

    features = [{"name": "n", "dtype": "int"}, {"name": "x", "dtype": "float64"}]
    for value in (10**400, -(10**309)):
        with pytest.raises(ValidationError, match="'n' expects a finite number"):
            validate_instances(features=features, instances=[{"n": value, "x": 1.0}])
    frame = validate_instances(features=features, instances=[{"n": 10**300, "x": 2}])
    assert frame["n"].tolist() == [1e300]


def test_a_huge_integer_in_an_instance_is_400_not_500(titanic, row):
    response = predict(client_for(titanic.registered_model.project.owner), titanic, [{**row, "Age": 10**400}])
    assert response.status_code == 400
    assert "'Age' expects a finite number" in response.json()["instances"][0]


def test_prediction_takes_bodies_over_the_ordinary_limit(titanic, row, settings):
    settings.API_JSON_MAX_BYTES = 500
    settings.API_JSON_MAX_BYTES_PREDICT = 100_000
    client = client_for(titanic.registered_model.project.owner)
    assert predict(client, titanic, [row] * 50).status_code == 200
    settings.API_JSON_MAX_BYTES_PREDICT = 1000
    response = predict(client, titanic, [row] * 50)
    assert response.status_code == 413 and "1,000 bytes" in response.json()["detail"]
