"""API fuzzing with Schemathesis against the OpenAPI schema the application serves (``/api/v1/schema/``).

Every operation of the schema gets ``FUZZ_EXAMPLES`` generated requests (5 in the suite; ``make fuzz``
runs 100, with Schemathesis' coverage phase too), sent through the WSGI application as a signed-in ML
engineer who owns a project with real objects to point at: a dataset, a succeeded training job with a
real (tiny) AutoGluon model registered as a version, an explanation, a batch prediction, an approval
request, a notification and a webhook. Most examples have their path ids replaced by those objects' ids,
so the handlers behind the 404 are exercised too; every fourth keeps the generated ids (0, negative,
past 2^63...).

Checks: no 5xx, the content type is the documented one, and a response with a documented status code
matches its documented schema. Each example runs in a savepoint that is rolled back, so a DELETE in one
example does not take the objects from the next, and nothing is sent to the broker (the tasks that the
services send are recorded instead).
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta
from itertools import count
from pathlib import Path

import pytest
import schemathesis
from django.core import signals
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings

from config.wsgi import application

EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "5"))
# The suite runs the schema's examples and random generation; ``make fuzz`` adds the coverage phase
# (boundary values, every undocumented method, missing and wrong-typed parameters of every operation).
PHASES = os.environ.get("FUZZ_PHASES", "examples,fuzzing").split(",")
ROOT = Path(__file__).resolve().parents[2]

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)
schema.config.phases.update(phases=PHASES)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


class World:
    """The objects the fuzzer's requests point at, and the engineer's bearer token."""

    token: str
    ids: dict[str, object]


def _build_world(tmp_path: Path) -> World:
    from django.conf import settings as django_settings
    from rest_framework.test import APIClient

    from apps.automl.choices import JobStatus
    from apps.automl.models import TrainingJob
    from apps.governance.models import Notification, WebhookEndpoint
    from apps.monitoring.models import DriftReport
    from apps.registry.models import BatchPrediction
    from apps.registry.services import model_version_register_from_job
    from tests.accounts.factories import PASSWORD, UserFactory
    from tests.registry.conftest import _train

    engineer = UserFactory(username=f"fuzz-{uuid.uuid4().hex[:6]}", roles=["ml_engineer"])
    member = UserFactory(roles=["reviewer"])
    client = APIClient()
    login = client.post("/api/v1/auth/login", {"username": engineer.username, "password": PASSWORD}, format="json")
    assert login.status_code == 200, login.content
    token = login.json()["access"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    project = client.post("/api/v1/projects", {"name": "Fuzzed", "description": "objects to point at"}, format="json")
    assert project.status_code == 201, project.content
    project_id = project.json()["id"]
    added = client.post(
        f"/api/v1/projects/{project_id}/members", {"user_id": member.pk, "role": "viewer"}, format="json"
    )
    assert added.status_code == 201, added.content
    with open(ROOT / "examples" / "data" / "titanic.csv", "rb") as handle:
        dataset = client.post(
            "/api/v1/datasets", {"project": project_id, "name": "titanic", "file": handle}, format="multipart"
        )
    assert dataset.status_code == 201, dataset.content
    dataset_id = dataset.json()["id"]

    model = _train("titanic", tmp_path, django_settings.MLFLOW_TRACKING_URI)
    with open(model.archive, "rb") as handle:
        artifact = default_storage.save(f"automl/jobs/fuzz-{uuid.uuid4().hex}/predictor.tar.gz", File(handle))
    now = timezone.now()
    job = TrainingJob.objects.create(
        project_id=project_id, dataset_id=dataset_id, created_by=engineer, target=model.target, task_type="binary",
        problem_type=model.problem_type, time_budget=30, status=JobStatus.SUCCEEDED, progress=1.0,
        started_at=now - timedelta(seconds=20), finished_at=now, leaderboard=model.leaderboard,
        metrics=model.metrics, best_model=model.best_model, features=model.features, class_labels=model.class_labels,
        eval_metric=model.eval_metric, mlflow_run_id=model.mlflow_run_id, artifact=artifact,
        artifact_sha256=model.sha256, artifact_size=model.size, hyperparameters={"GBM": {}},
    )  # fmt: skip
    version = model_version_register_from_job(job_id=job.pk)

    explanation = client.post(
        "/api/v1/explain/shap", {"model_id": version.pk, "explanation_type": "global"}, format="json"
    )
    assert explanation.status_code == 202, explanation.content
    batch = client.post(f"/api/v1/models/{version.pk}/batch-predictions", {"dataset_id": dataset_id}, format="json")
    assert batch.status_code in (201, 202), batch.content
    approval = client.post(f"/api/v1/models/{version.pk}/submit-approval", {"comment": "fuzz"}, format="json")
    assert approval.status_code == 201, approval.content
    webhook = WebhookEndpoint.objects.create(
        project_id=project_id, url="https://hooks.example.org/maestro", secret="whsec_fuzz", created_by=engineer
    )
    notification = Notification.objects.create(
        user=engineer, request_id=approval.json()["id"], title="Submitted", body="for review"
    )
    # A drift report to point drift/{id} at (made directly: a real one needs a production version, its reference
    # profile and logged predictions, which tests/monitoring covers).
    drift = DriftReport.objects.create(
        registered_model_id=version.registered_model_id, model_version=version, created_by=engineer,
        window_start=now - timedelta(hours=24), window_end=now,
    )  # fmt: skip
    world = World()
    world.token = token
    world.ids = {
        "project": project_id,
        "member": member.pk,
        "dataset": dataset_id,
        "job": job.pk,
        "version": version.pk,
        "registered_model": version.registered_model_id,
        "explanation": explanation.json()["id"],
        "plot": "bar",
        "batch": BatchPrediction.objects.get(model_version=version).pk,
        "approval": approval.json()["id"],
        "notification": notification.pk,
        "webhook": webhook.pk,
        "user": engineer.pk,
        "drift": drift.pk,
    }
    return world


# Which object each path parameter names, by the path's first segment after /api/v1/.
RESOURCE_OF_ID = {
    "approvals": "approval",
    "automl": "job",
    "batch-predictions": "batch",
    "datasets": "dataset",
    "drift": "drift",
    "explain": "explanation",
    "models": "version",
    "notifications": "notification",
    "projects": "project",
    "registered-models": "registered_model",
    "users": "user",
}


def real_path_parameters(path: str, generated: dict) -> dict:
    segment = path.removeprefix("/api/v1/").split("/", 1)[0]
    chosen = {}
    for name in generated:
        if name == "id":
            chosen[name] = WORLD.ids[RESOURCE_OF_ID[segment]]
        elif name == "model_id":
            chosen[name] = WORLD.ids["version"]
        elif name == "instance_id":  # generated: a real row would compute SHAP on every example
            chosen[name] = generated[name]
        elif name == "user_id":
            chosen[name] = WORLD.ids["member"]
        elif name == "webhook_id":
            chosen[name] = WORLD.ids["webhook"]
        elif name == "name":
            chosen[name] = WORLD.ids["plot"]
        else:
            chosen[name] = generated[name]
    return chosen


WORLD = World()
EXAMPLE_NUMBER = count()


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once for the module inside a transaction that is rolled back at its end."""
    from celery.app.task import Task
    from celery.result import AsyncResult

    sent: list[tuple[str, tuple]] = []

    def record(self, args=None, kwargs=None, task_id=None, **options):
        sent.append((self.name, tuple(args or ())))
        return AsyncResult(task_id or str(uuid.uuid4()))

    original = Task.apply_async
    Task.apply_async = record
    try:
        with django_db_blocker.unblock():
            with transaction.atomic():
                built = _build_world(tmp_path_factory.mktemp("fuzz-model"))
                WORLD.token, WORLD.ids = built.token, built.ids
                # As Django's test client does (so only after the set-up's requests): the requests run
                # inside the test's transaction, which closing the connection after each request would end.
                signals.request_started.disconnect(close_old_connections)
                signals.request_finished.disconnect(close_old_connections)
                yield WORLD
                transaction.set_rollback(True)
    finally:
        Task.apply_async = original
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_within_its_schema_and_never_500(case, world):
    if next(EXAMPLE_NUMBER) % 4:
        case.path_parameters = real_path_parameters(case.operation.path, case.path_parameters or {})
    with transaction.atomic():
        try:
            case.call_and_validate(headers={"Authorization": f"Bearer {world.token}"}, checks=CHECKS)
        finally:
            transaction.set_rollback(True)


def test_the_served_schema_is_the_one_fuzzed(api_client):
    served = api_client.get("/api/v1/schema/?format=json")
    assert served.status_code == 200
    fuzzed = {result.ok().path for result in schema.get_all_operations()}
    assert set(served.json()["paths"]) == fuzzed
    assert len(fuzzed) > 50


@pytest.mark.django_db
def test_options_on_every_operation_answers_without_a_server_error(api_client):
    """Regression: OPTIONS on the sign-in, refresh, sign-out and sign-up views answered 500 (DRF's metadata
    asked them for a serializer they did not declare). The coverage phase found it; this keeps it checked
    in the suite, anonymous and signed in."""
    from tests.accounts.factories import UserFactory

    paths = {result.ok().path for result in schema.get_all_operations()}
    for signed_in in (False, True):
        if signed_in:
            api_client.force_authenticate(UserFactory(roles=["ml_engineer"]))
        for path in paths:
            concrete = re.sub(r"{[a-z_]+}", "1", path)
            answer = api_client.options(concrete)
            assert answer.status_code < 500, (concrete, answer.status_code, answer.content[:300])
    for path in ("/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/auth/refresh"):
        assert api_client.options(path).json()["actions"]["POST"], path
