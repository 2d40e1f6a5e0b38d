"""Budgets through the API: an answer says what its budget chose and how precise it is, a budget nothing fits is a
clear 400 (or a failed explanation naming the budget it needs), the quick path is decided by the estimate, and a
running explanation's progress and expected end move."""

from __future__ import annotations

import pytest

from apps.explain import services
from apps.explain.models import Explanation
from tests.explain.api.test_api import local, owner

pytestmark = pytest.mark.django_db


def ask_global(client, version, **extra):
    return client.post("/api/v1/explain/shap", {"model_id": version.pk, "explanation_type": "global", **extra})


def test_a_global_explanation_answers_its_budget_what_it_chose_and_its_standard_errors(make_version):
    version = make_version("titanic")
    client = owner(version)
    queued = ask_global(client, version, budget_s=120)
    assert queued.status_code == 202 and queued.json()["budget_s"] == 120
    services.explanation_run(explanation_id=queued.json()["id"])
    body = client.get(f"/api/v1/explain/{queued.json()['id']}").json()
    assert body["status"] == "succeeded" and body["budget_s"] == 120 and body["eta"] is None
    produced_by = body["produced_by"]
    assert produced_by["plan"]["estimated_s"] <= 120 and produced_by["reason"].startswith("Exact over 300 rows")
    assert set(produced_by["budget"]["seconds"]) >= {"prepare", "permutation_importance", "shap", "total"}
    assert "seeded sample" in produced_by["background"]
    assert set(body["standard_errors"]) == set(body["feature_importances"])
    assert all(error >= 0 for error in body["standard_errors"].values())
    assert body["rank_stability"]["bootstrap_samples"] == 200 and body["rank_stability"]["features"]


def test_a_global_budget_nothing_fits_fails_the_explanation_naming_the_budget_it_needs(make_version):
    version = make_version("titanic")
    client = owner(version)
    queued = ask_global(client, version, budget_s=0.1)
    assert queued.status_code == 202
    failed = services.explanation_run(explanation_id=queued.json()["id"])
    assert failed.status == "failed"
    assert "needs a budget of about" in failed.error and "Ask again with a larger budget_s" in failed.error
    body = client.get(f"/api/v1/explain/{failed.pk}").json()
    assert body["status"] == "failed" and "needs a budget of about" in body["error"]


def test_once_a_model_is_measured_a_global_budget_too_small_is_refused_at_once(make_version):
    version = make_version("titanic")
    client = owner(version)
    first = ask_global(client, version, budget_s=120)
    services.explanation_run(explanation_id=first.json()["id"])
    refused = ask_global(client, version, budget_s=0.2, seed=3)
    assert refused.status_code == 400
    assert "budget_s=0.2 is too small" in refused.json()["budget_s"][0]
    assert Explanation.objects.filter(model_version=version).count() == 1


@pytest.mark.parametrize("budget", [0, -1, 100_000, "soon"])
def test_a_budget_out_of_bounds_is_a_400(make_version, budget):
    version = make_version("titanic")
    response = ask_global(owner(version), version, budget_s=budget)
    assert response.status_code == 400 and "budget_s" in response.json()
    assert not Explanation.objects.filter(model_version=version).exists()


def test_a_local_budget_nothing_fits_is_a_400_and_nothing_is_stored(make_version, trained):
    version = make_version("boston")
    rows = trained["boston"].rows[:1]
    response = local(owner(version), version, rows, budget_s=0.1, max_evals=100_000, background_size=100)
    assert response.status_code == 400
    message = response.json()["budget_s"][0]
    assert "local explanation needs about" in message and "background_size, max_evals as given" in message
    assert not Explanation.objects.filter(model_version=version).exists()


def test_a_local_explanation_fitting_the_quick_budget_is_answered_at_once_else_queued(make_version, trained, settings):
    version = make_version("boston")
    client = owner(version)
    rows = trained["boston"].rows[:2]
    quick = local(client, version, rows)
    assert quick.status_code == 200
    plan = quick.json()["produced_by"]["plan"]
    assert plan["estimated_s"] <= settings.EXPLAIN_SYNC_BUDGET_S and plan["sample_size"] == 2
    settings.EXPLAIN_SYNC_BUDGET_S = plan["estimated_s"] / 10  # the same request no longer fits the quick path
    queued = local(client, version, rows, seed=9)
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    done = services.explanation_run(explanation_id=queued.json()["id"])
    assert done.status == "succeeded" and len(done.result["rows"]) == 2


def test_progress_and_the_expected_end_move_and_never_go_back(make_version):
    version = make_version("titanic")
    queued = ask_global(owner(version), version)
    explanation = Explanation.objects.get(pk=queued.json()["id"])
    Explanation.objects.filter(pk=explanation.pk).update(status="running", progress=0.05)
    writer = services._ProgressWriter(explanation.pk, interval=0.0)
    writer(0.3, 12.0)
    moved = Explanation.objects.get(pk=explanation.pk)
    assert moved.progress == 0.3 and moved.eta_at is not None
    writer(0.2, 30.0)  # a late report never moves it back
    assert Explanation.objects.get(pk=explanation.pk).progress == 0.3
    body = owner(version).get(f"/api/v1/explain/{explanation.pk}").json()
    assert body["progress"] == 0.3 and body["eta"] is not None
