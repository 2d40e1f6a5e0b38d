"""Explanations through the API on real models: the numbers are real (additivity against the model's own
output), repeats come from the cache, plots are PNGs behind access checks, bad input is a clear 4xx."""

from __future__ import annotations

import io
import time

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image
from rest_framework.test import APIClient

from apps.explain import engine
from apps.explain.models import Explanation
from apps.registry.serving import predictor_cache
from tests.accounts.factories import UserFactory
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def owner(version) -> APIClient:
    return client_for(version.registered_model.project.owner)


def local(client, version, rows, **extra):
    return client.post(
        "/api/v1/explain/shap",
        {"model_id": version.pk, "explanation_type": "local", "instance_data": rows, **extra},
        format="json",
    )


def probabilities(client, version, rows) -> list:
    body = client.post(f"/api/v1/models/{version.pk}/predict", {"instances": rows}, format="json").json()
    return body.get("probabilities"), body["predictions"], body.get("class_labels")


@pytest.mark.parametrize("sample", ["titanic", "iris", "boston"])
def test_local_shap_is_additive_to_the_models_own_output(sample, make_version, trained):
    version = make_version(sample)
    client = owner(version)
    rows = trained[sample].rows[:2]
    response = local(client, version, rows)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "succeeded" and body["explanation_type"] == "local"
    assert body["produced_by"]["explainer"] in ("exact", "permutation")
    assert body["produced_by"]["background_size"] == 100
    probs, predictions, labels = probabilities(client, version, rows)
    for index, row in enumerate(body["rows"]):
        assert row["base_value"] + sum(row["values"]) == pytest.approx(row["output"], abs=1e-5)
        if version.task_type == "regression":
            assert row["output"] == pytest.approx(predictions[index], rel=1e-4)
        else:  # the explained output is the probability of the explained class, as the model answers it
            explained = labels.index(row["explained_class"])
            assert row["output"] == pytest.approx(probs[index][explained], abs=1e-5)
    assert len(body["shap_values"]) == 2 and len(body["shap_values"][0]) == len(version.features)


def test_a_repeated_request_is_answered_from_the_cache_without_recomputing(make_version, trained, monkeypatch):
    version = make_version("titanic")
    client = owner(version)
    calls = []
    real = engine.shap_local

    def counting(**kwargs):
        calls.append(1)
        return real(**kwargs)

    monkeypatch.setattr(engine, "shap_local", counting)
    rows = trained["titanic"].rows[:1]
    first = local(client, version, rows)
    assert first.status_code == 200 and first.json()["cached"] is False
    reordered = [dict(reversed(list(rows[0].items())))]  # same row, keys in another order: same hash
    second = local(client, version, reordered)
    assert second.status_code == 200 and second.json()["cached"] is True
    assert second.json()["id"] == first.json()["id"]
    assert len(calls) == 1
    third = local(client, version, rows, seed=7)  # other parameters: another explanation
    assert third.json()["id"] != first.json()["id"] and len(calls) == 2


def test_lime_gives_weights_for_the_row_and_is_reproducible_with_its_stored_seed(make_version, trained):
    version = make_version("titanic")
    client = owner(version)
    rows = trained["titanic"].rows[:1]
    first = client.post(
        "/api/v1/explain/lime", {"model_id": version.pk, "instance_data": rows, "random_state": 11}, format="json"
    )
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["feature_weights"] and all(len(pair) == 2 for pair in body["feature_weights"])
    assert body["prediction"] in version.class_labels
    assert body["produced_by"]["random_state"] == 11 and body["produced_by"]["num_samples"] == 1000
    Explanation.objects.filter(pk=body["id"]).delete()  # drop the cache entry: the same request recomputes
    again = client.post(
        "/api/v1/explain/lime", {"model_id": version.pk, "instance_data": rows, "random_state": 11}, format="json"
    ).json()
    assert again["id"] != body["id"] and again["cached"] is False
    assert again["feature_weights"] == body["feature_weights"]


def test_plots_are_pngs_served_only_to_the_project(make_version, trained):
    version = make_version("boston")
    client = owner(version)
    body = local(client, version, trained["boston"].rows[:1]).json()
    assert set(body["plot_urls"]) == {"waterfall", "force"}
    for url in body["plot_urls"].values():
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        content = b"".join(response.streaming_content)
        assert content.startswith(b"\x89PNG")
        assert Image.open(io.BytesIO(content)).size[0] > 100
    outsider = client_for(ProjectFactory().owner)
    assert outsider.get(body["plot_urls"]["waterfall"]).status_code == 404
    assert outsider.get(f"/api/v1/explain/{body['id']}").status_code == 404
    assert local(outsider, version, trained["boston"].rows[:1]).status_code == 404
    anonymous = APIClient()
    assert anonymous.get(f"/api/v1/explain/{body['id']}").status_code == 401
    assert anonymous.get(body["plot_urls"]["waterfall"]).status_code == 401
    assert anonymous.post("/api/v1/explain/lime", {}, format="json").status_code == 401


def test_rows_that_do_not_match_the_schema_get_a_400_naming_the_columns(make_version, trained):
    version = make_version("titanic")
    client = owner(version)
    row = dict(trained["titanic"].rows[0])
    row.pop("Age")
    row["Agee"] = 3
    response = local(client, version, [row])
    assert response.status_code == 400
    message = response.json()["instance_data"][0]
    assert "'Age'" in message and "'Agee'" in message
    assert client.post("/api/v1/explain/shap", {"explanation_type": "local"}, format="json").status_code == 400
    assert local(client, version, []).status_code == 400
    assert client.post("/api/v1/explain/lime", {"model_id": version.pk}, format="json").status_code == 400
    assert not Explanation.objects.filter(model_version=version).exists()


def test_more_rows_than_the_quick_limit_run_in_the_background_and_too_many_are_refused(make_version, trained, settings):
    settings.EXPLAIN_SYNC_MAX_ROWS = 1
    settings.EXPLAIN_MAX_ROWS = 3
    version = make_version("titanic")
    client = owner(version)
    rows = trained["titanic"].rows
    queued = local(client, version, rows[:2])
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    assert queued["Location"].endswith(f"/api/v1/explain/{queued.json()['id']}")
    refused = local(client, version, rows[:4])
    assert refused.status_code == 400 and "At most 3 rows" in refused.json()["instance_data"][0]


def test_a_version_whose_archive_fails_its_hash_is_refused_and_never_loaded(make_version, trained):
    version = make_version("titanic")
    name = version.artifact.name
    default_storage.delete(name)
    default_storage.save(name, ContentFile(b"not the archive the platform made"))
    predictor_cache.clear()
    response = local(owner(version), version, trained["titanic"].rows[:1])
    assert response.status_code == 409
    assert "SHA-256" in response.json()["detail"]
    assert len(predictor_cache) == 0
    failed = Explanation.objects.get(model_version=version)
    assert failed.status == "failed" and "SHA-256" in failed.error


def test_local_explanation_of_a_training_row_by_index(make_version):
    version = make_version("iris")
    client = owner(version)
    response = client.get(f"/api/v1/explain/local/{version.pk}/3")
    assert response.status_code == 200, response.content
    assert response.json()["instance_ids"] == [3]
    assert client.get(f"/api/v1/explain/local/{version.pk}/100000").status_code == 400
    assert client_for(ProjectFactory().owner).get(f"/api/v1/explain/local/{version.pk}/3").status_code == 404


def test_global_explanation_of_a_version_without_one_is_queued(make_version):
    version = make_version("titanic")
    response = owner(version).get(f"/api/v1/explain/global/{version.pk}")
    assert response.status_code == 202 and response.json()["explanation_type"] == "global"
    again = owner(version).get(f"/api/v1/explain/global/{version.pk}")
    assert again.json()["id"] == response.json()["id"]  # still the one being made


def test_explanations_go_with_their_version(make_version, trained, django_capture_on_commit_callbacks):
    version = make_version("boston")
    client = owner(version)
    body = local(client, version, trained["boston"].rows[:1]).json()
    assert Explanation.objects.get(pk=body["id"]).plots == {}  # local plots are drawn when first fetched
    for url in body["plot_urls"].values():
        assert client.get(url).status_code == 200
    files = list(Explanation.objects.get(pk=body["id"]).plots.values())
    assert len(files) == 2 and all(default_storage.exists(name) for name in files)
    assert client.get(body["plot_urls"]["force"]).status_code == 200  # the second fetch reads the stored file
    assert list(Explanation.objects.get(pk=body["id"]).plots.values()) == files
    assert client.get(body["plot_urls"]["force"].replace("force", "summary")).status_code == 404
    admin = client_for(UserFactory(roles=["admin"]))
    with django_capture_on_commit_callbacks(execute=True):
        assert admin.delete(f"/api/v1/models/{version.pk}").status_code == 204
    assert not Explanation.objects.filter(pk=body["id"]).exists()
    assert not any(default_storage.exists(name) for name in files)


def test_explanation_metrics_are_exported(make_version, trained):
    version = make_version("titanic")
    local(owner(version), version, trained["titanic"].rows[:1])
    metrics = APIClient().get("/metrics").content.decode()
    assert 'maestro_explanations_total{method="shap_local",outcome="succeeded"}' in metrics
    assert "maestro_explanation_duration_seconds_bucket" in metrics


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_registered_version_gets_its_global_explanation_and_the_card_shows_it(
    role_groups, celery_worker, make_version
):
    version = make_version("titanic")  # registration queues the global explanation on the explain queue
    client = owner(version)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        response = client.get(f"/api/v1/explain/global/{version.pk}")
        if response.json()["status"] in ("succeeded", "failed"):
            break
        time.sleep(1)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "succeeded", body
    importances = body["feature_importances"]
    assert set(importances) == {feature["name"] for feature in version.features}
    assert list(importances.values()) == sorted(importances.values(), reverse=True)
    assert body["produced_by"]["sample_size"] == 300 and body["produced_by"]["background_size"] == 100
    permutation = body["permutation_importance"]["importances"]
    assert set(permutation) == set(importances) and "p_value" in next(iter(permutation.values()))
    assert set(body["plot_urls"]) == {"summary", "bar"}
    assert client.get(body["plot_urls"]["bar"]).status_code == 200
    card = client.get(f"/api/v1/models/{version.pk}/card").json()
    assert [item["feature"] for item in card["feature_importances"]][:1] == [next(iter(importances))]
    assert "<svg" in client.get(f"/api/v1/models/{version.pk}/card?format=html").content.decode()
