"""The roadmap's whole flow through the API, with distinct real users and a real Celery worker: an admin
creates an ML engineer and two reviewers; the engineer trains a model and explains it; one reviewer
reviews, tests and approves it; the other deploys it; the engineer is served the same predictions the
in-process predictor makes; lineage, card and the approval record show all of it; an outsider sees none."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from apps.registry.models import ModelVersion
from apps.registry.serving import predictor_cache, validate_instances
from tests.accounts.factories import PASSWORD, UserFactory
from tests.conftest import EXAMPLES
from tests.e2e.test_full_flow import poll, signed_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def rows_of_titanic(n: int) -> list[dict]:
    frame = pd.read_csv(EXAMPLES / "titanic.csv").drop(columns=["Survived"]).head(n)
    return [
        {key: (None if isinstance(value, float) and math.isnan(value) else value) for key, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def test_engineer_trains_explains_and_two_reviewers_take_the_model_to_production(celery_worker, settings):
    settings.AUTOML_HYPERPARAMETERS = {"GBM": {}}
    UserFactory(username="root", roles=["admin"])
    admin = signed_in("root")
    people = {}
    for username, roles in (("eve", ["ml_engineer"]), ("rita", ["reviewer"]), ("rob", ["reviewer"])):
        created = admin.post(
            "/api/v1/users",
            {"username": username, "email": f"{username}@example.org", "password": PASSWORD, "roles": roles},
            format="json",
        )
        assert created.status_code == 201, created.content
        people[username] = created.json()["id"]
    UserFactory(username="mallory", roles=["ml_engineer"])
    eve, rita, rob, mallory = (signed_in(name) for name in ("eve", "rita", "rob", "mallory"))

    # The engineer makes a project, adds the reviewers and uploads the data.
    project = eve.post("/api/v1/projects", {"name": "Titanic", "description": "Who survived"}, format="json").json()
    for reviewer in ("rita", "rob"):
        added = eve.post(
            f"/api/v1/projects/{project['id']}/members", {"user_id": people[reviewer], "role": "viewer"}, format="json"
        )
        assert added.status_code == 201, added.content
    with open(EXAMPLES / "titanic.csv", "rb") as handle:
        dataset = eve.post(
            "/api/v1/datasets", {"project": project["id"], "name": "titanic", "file": handle}, format="multipart"
        ).json()

    # AutoML on the worker, then the leaderboard.
    started = eve.post(
        "/api/v1/automl/jobs",
        {"dataset_id": dataset["id"], "target": "Survived", "task_type": "binary", "time_budget": 20},
        format="json",
    )
    assert started.status_code == 202, started.content
    job_url = f"/api/v1/automl/jobs/{started.json()['id']}"
    job = poll(eve, job_url, lambda body: body["status"] in ("succeeded", "failed") and (
        body["status"] == "failed" or body["model_version_id"]
    ))  # fmt: skip
    assert job["status"] == "succeeded", job["error"]
    results = eve.get(f"{job_url}/results").json()
    assert results["leaderboard"] and results["best_model"]
    version_id = job["model_version_id"]
    version = eve.get(f"/api/v1/models/{version_id}").json()
    features = [feature["name"] for feature in version["features"]]

    # The engineer submits; she may not review her own model.
    submitted = eve.post(f"/api/v1/models/{version_id}/submit-approval", {"comment": "first model"}, format="json")
    assert submitted.status_code == 201, submitted.content
    approval_url = f"/api/v1/approvals/{submitted.json()['id']}"
    assert submitted.json()["state"] == "submitted"
    assert eve.post(f"{approval_url}/start-review", {}, format="json").status_code == 403

    # One reviewer reviews and tests at once, while the global explanation queued at registration may still be
    # running: its check waits (pending) and the checks run again by themselves when it lands; nobody asks.
    assert rita.post(f"{approval_url}/start-review", {"comment": "looking"}, format="json").json()["state"] == "review"
    assert rita.post(f"{approval_url}/start-testing", {}, format="json").json()["state"] == "testing"
    tested = poll(rita, approval_url, lambda body: body["checks_status"] in ("passed", "failed"))
    assert tested["checks_status"] == "passed", tested["checks"]
    summaries = [step["comment"] for step in tested["history"] if step["to"] == "testing" and step["from"] == "testing"]
    assert summaries[-1] == "All automatic checks passed.", summaries
    assert all("failed" not in summary for summary in summaries), summaries  # waited, never failed

    # Explanations: the global one (queued at registration) has landed; local SHAP and LIME answer at once.
    global_shap = poll(
        eve, f"/api/v1/explain/global/{version_id}", lambda body: body["status"] in ("succeeded", "failed")
    )
    assert global_shap["status"] == "succeeded", global_shap["error"]
    assert set(global_shap["feature_importances"]) == set(features)
    rows = rows_of_titanic(3)
    local = eve.post(
        "/api/v1/explain/shap",
        {"model_id": version_id, "explanation_type": "local", "instance_data": rows[:1]},
        format="json",
    )
    assert local.status_code == 200, local.content
    row = local.json()["rows"][0]
    assert row["base_value"] + sum(row["values"]) == pytest.approx(row["output"], abs=1e-5)
    lime = eve.post("/api/v1/explain/lime", {"model_id": version_id, "instance_data": rows[:1]}, format="json")
    assert lime.status_code == 200 and lime.json()["feature_weights"], lime.content

    approved = rita.post(f"{approval_url}/approve", {"comment": "meets the bar"}, format="json")
    assert approved.status_code == 200 and approved.json()["state"] == "approved", approved.content

    # The other deploys it.
    deployed = rob.post(f"{approval_url}/deploy", {"comment": "release 1"}, format="json")
    assert deployed.status_code == 200 and deployed.json()["state"] == "deployed", deployed.content

    # Served through the registered model: the same answers as the predictor in this process.
    registered_model_id = version["registered_model"]
    served = eve.post(f"/api/v1/registered-models/{registered_model_id}/predict", {"instances": rows}, format="json")
    assert served.status_code == 200, served.content
    assert served.json()["model_version_id"] == version_id
    model_version = ModelVersion.objects.get(pk=version_id)
    predictor = predictor_cache.get(model_version)
    frame = validate_instances(features=model_version.features, instances=rows)
    assert served.json()["predictions"] == [int(value) for value in predictor.predict(frame).tolist()]
    expected = predictor.predict_proba(frame)[served.json()["class_labels"]].to_numpy().ravel().tolist()
    assert [p for row in served.json()["probabilities"] for p in row] == pytest.approx(expected, abs=1e-6)

    # Lineage, card and the approval record tell the story; the history's hash chain holds.
    lineage = eve.get(f"/api/v1/models/{version_id}/lineage").json()
    assert lineage["approval_state"] == "deployed" and lineage["deployments"]
    assert lineage["job"]["id"] == started.json()["id"] and lineage["dataset"]["id"] == dataset["id"]
    card = eve.get(f"/api/v1/models/{version_id}/card").json()
    assert card["feature_importances"] and card["approvals"]
    detail = eve.get(approval_url).json()
    assert detail["history_verified"] is True
    record = eve.get(f"{approval_url}/record?format=json").json()
    assert record["chain"]["verified"] is True and record["chain"]["length"] == len(record["history"])
    assert {decision["action"] for decision in record["decisions"]} >= {"approve", "deploy"}
    pdf = eve.get(f"{approval_url}/record?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # Someone outside the project sees none of it.
    for url in (
        f"/api/v1/projects/{project['id']}",
        f"/api/v1/models/{version_id}",
        f"/api/v1/explain/{global_shap['id']}",
        approval_url,
        f"/api/v1/registered-models/{registered_model_id}",
    ):
        assert mallory.get(url).status_code == 404, url
    assert (
        mallory.post(
            f"/api/v1/registered-models/{registered_model_id}/predict", {"instances": rows}, format="json"
        ).status_code
        == 404
    )
