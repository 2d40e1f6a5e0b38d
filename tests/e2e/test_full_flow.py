"""The whole flow a team goes through, as real API calls with JWT tokens and a real Celery worker:
sign up, get a role, create a project, upload data, train, read the leaderboard and the card,
deploy (refused until approved), serve online and batch predictions, roll back."""

import csv
import io
import time

import pytest
from rest_framework.test import APIClient

from apps.registry import hooks
from tests.accounts.factories import PASSWORD, UserFactory
from tests.conftest import EXAMPLES

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def poll(client: APIClient, url: str, done, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if done(body):
            return body
        time.sleep(1)
    raise AssertionError(f"{url} did not finish in {timeout} s: {body}")


def signed_in(username: str) -> APIClient:
    client = APIClient()
    tokens = client.post("/api/v1/auth/login", {"username": username, "password": PASSWORD}, format="json")
    assert tokens.status_code == 200, tokens.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")
    return client


@pytest.fixture
def approved_versions():
    """The approval workflow's answer for every version: approved (it gates deployment)."""
    state = {"value": None}

    def approvals(versions):
        if state["value"] is None:
            return {}
        return {v.pk: hooks.Approval(state["value"], state["value"] in ("approved", "deployed")) for v in versions}

    with hooks.override(approvals=approvals):
        yield state


def test_team_takes_a_dataset_to_served_predictions(celery_worker, settings, approved_versions):
    settings.AUTOML_HYPERPARAMETERS = {"GBM": {}}
    anonymous = APIClient()

    # Sign up: a new account is a viewer and cannot create projects.
    registered = anonymous.post(
        "/api/v1/auth/register",
        {"username": "ada", "email": "ada@example.org", "password": PASSWORD},
        format="json",
    )
    assert registered.status_code == 201, registered.content
    ada = signed_in("ada")
    assert ada.get("/api/v1/auth/me").json()["roles"] == ["viewer"]
    assert ada.post("/api/v1/projects", {"name": "Titanic"}, format="json").status_code == 403

    # An admin makes her an ML engineer.
    UserFactory(username="root", roles=["admin"])
    admin = signed_in("root")
    granted = admin.patch(f"/api/v1/users/{registered.json()['id']}/roles", {"roles": ["ml_engineer"]}, format="json")
    assert granted.status_code == 200, granted.content

    project = ada.post("/api/v1/projects", {"name": "Titanic", "description": "Who survived"}, format="json")
    assert project.status_code == 201, project.content
    project_id = project.json()["id"]

    with open(EXAMPLES / "titanic.csv", "rb") as handle:
        upload = ada.post(
            "/api/v1/datasets", {"project": project_id, "name": "titanic", "file": handle}, format="multipart"
        )
    assert upload.status_code == 201, upload.content
    dataset = upload.json()
    assert (dataset["n_rows"], dataset["n_columns"]) == (1313, 5)

    # Someone outside the project sees nothing of it.
    UserFactory(username="mallory", roles=["ml_engineer"])
    mallory = signed_in("mallory")
    assert mallory.get(f"/api/v1/datasets/{dataset['id']}").status_code == 404

    started = ada.post(
        "/api/v1/automl/jobs",
        {"dataset_id": dataset["id"], "target": "Survived", "task_type": "binary", "time_budget": 20},
        format="json",
    )
    assert started.status_code == 202, started.content
    assert started.json()["status"] == "queued"
    job_url = f"/api/v1/automl/jobs/{started.json()['id']}"
    job = poll(ada, job_url, lambda body: body["status"] in ("succeeded", "failed", "cancelled") and (
        body["status"] != "succeeded" or body["model_version_id"]
    ))  # fmt: skip
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"] == 1.0

    results = ada.get(f"{job_url}/results").json()
    assert results["leaderboard"] and results["best_model"] and results["mlflow_run_id"]
    assert 0.6 < results["metrics"]["accuracy"] <= 1.0

    version_id = job["model_version_id"]
    version = ada.get(f"/api/v1/models/{version_id}").json()
    assert version["target"] == "Survived" and version["task_type"] == "binary"
    card = ada.get(f"/api/v1/models/{version_id}/card?format=pdf")
    assert card.status_code == 200 and card.content.startswith(b"%PDF")

    # Deployment waits for an approval; once approved, the version serves the registered model.
    refused = ada.post(f"/api/v1/models/{version_id}/deploy", {"comment": "ship it"}, format="json")
    assert refused.status_code == 409
    approved_versions["value"] = "approved"
    deployed = ada.post(f"/api/v1/models/{version_id}/deploy", {"comment": "ship it"}, format="json")
    assert deployed.status_code in (200, 201), deployed.content
    registered_model_id = version["registered_model"]
    if isinstance(registered_model_id, dict):
        registered_model_id = registered_model_id["id"]
    registered = ada.get(f"/api/v1/registered-models/{registered_model_id}").json()
    production = registered["production_version"]
    assert (production["id"] if isinstance(production, dict) else production) == version_id

    passengers = [
        {"Name": "Allen, Miss Elisabeth Walton", "PClass": "1st", "Age": 29.0, "Sex": "female"},
        {"Name": "Brown, Mr Thomas", "PClass": "3rd", "Age": 40.0, "Sex": "male"},
    ]
    served = ada.post(
        f"/api/v1/registered-models/{registered_model_id}/predict", {"instances": passengers}, format="json"
    )
    assert served.status_code == 200, served.content
    body = served.json()
    assert body["model_version_id"] == version_id
    assert len(body["predictions"]) == 2 and len(body["probabilities"]) == 2
    missing = ada.post(f"/api/v1/models/{version_id}/predict", {"instances": [{"Age": 3}]}, format="json")
    assert missing.status_code == 400 and "Sex" in str(missing.json())

    batch = ada.post(f"/api/v1/models/{version_id}/batch-predictions", {"dataset_id": dataset["id"]}, format="json")
    assert batch.status_code == 202, batch.content
    done = poll(
        ada, f"/api/v1/batch-predictions/{batch.json()['id']}", lambda b: b["status"] in ("succeeded", "failed")
    )
    assert done["status"] == "succeeded", done
    download = ada.get(done["result_url"])
    assert download.status_code == 200
    content = b"".join(download.streaming_content) if download.streaming else download.content
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert len(rows) == 1313 and "prediction" in rows[0]

    # The version in production cannot be deleted; the audit trail has the role change.
    assert admin.delete(f"/api/v1/models/{version_id}").status_code == 409
    assert anonymous.get(job_url).status_code == 401
