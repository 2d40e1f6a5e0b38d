"""Every list endpoint of the API costs the same number of database queries for a few rows as for many
(no query per row), each row made by someone else so that a per-row author lookup would show."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.automl.choices import JobStatus
from apps.automl.models import TrainingJob
from apps.explain.models import Explanation
from apps.governance.models import Notification
from apps.projects.choices import ProjectRole
from apps.projects.services import project_member_set
from apps.registry.models import BatchPrediction, Deployment, ModelVersion, RegisteredModel
from tests.accounts.factories import UserFactory
from tests.projects.factories import DatasetFactory, ProjectFactory, add_member

pytestmark = pytest.mark.django_db

FEW, MANY = 2, 7


class World:
    """One project, its owner (a platform admin, so the user list is theirs too) and one dataset and version."""

    def __init__(self) -> None:
        self.project = ProjectFactory()
        self.owner = self.project.owner
        self.owner.groups.add(*Group.objects.filter(name="admin"))
        self.dataset = DatasetFactory(project=self.project)
        self.version = self.add_version(RegisteredModel.objects.create(project=self.project, name="base"))

    def add_version(self, registered_model: RegisteredModel, author=None) -> ModelVersion:
        number = registered_model.versions.count() + 1
        return ModelVersion.objects.create(
            registered_model=registered_model,
            version=number,
            features=[{"name": "x", "dtype": "float"}],
            target="y",
            task_type="binary",
            artifact="artifacts/none.tar.gz",
            artifact_sha256="0" * 64,
            dataset=self.dataset,
            created_by=author or UserFactory(),
        )


def _projects(world: World, count: int) -> None:
    for _ in range(count):
        project = ProjectFactory(owner=UserFactory(roles=["ml_engineer"]))
        add_member(project, ProjectRole.VIEWER)
        project_member_set(project=project, user=world.owner, role=ProjectRole.EDITOR)


def _members(world: World, count: int) -> None:
    for _ in range(count):
        add_member(world.project, ProjectRole.VIEWER)


def _datasets(world: World, count: int) -> None:
    for _ in range(count):
        DatasetFactory(project=world.project, created_by=UserFactory())


def _jobs(world: World, count: int) -> None:
    for index in range(count):
        TrainingJob.objects.create(
            project=world.project,
            dataset=world.dataset,
            created_by=UserFactory(),
            target="species",
            time_budget=30,
            status=JobStatus.SUCCEEDED,
            finished_at=timezone.now(),
            leaderboard=[{"model": f"m{row}", "score_val": 0.5} for row in range(index + 3)],
        )


def _registered_models(world: World, count: int) -> None:
    for _ in range(count):
        registered_model = RegisteredModel.objects.create(
            project=world.project, name=f"model-{RegisteredModel.objects.count()}", created_by=UserFactory()
        )
        for _ in range(2):
            world.add_version(registered_model)


def _versions(world: World, count: int) -> None:
    for _ in range(count):
        world.add_version(world.version.registered_model)


def _deployments(world: World, count: int) -> None:
    for _ in range(count):
        Deployment.objects.create(
            registered_model=world.version.registered_model,
            model_version=world.add_version(world.version.registered_model),
            previous_version=world.version,
            deployed_by=UserFactory(),
        )


def _batch_predictions(world: World, count: int) -> None:
    for _ in range(count):
        BatchPrediction.objects.create(
            model_version=world.version, dataset=DatasetFactory(project=world.project), created_by=UserFactory()
        )


def _explanations(world: World, count: int) -> None:
    for index in range(count):
        Explanation.objects.create(
            model_version=world.add_version(world.version.registered_model),
            method="shap",
            input_sha256=f"{index:064d}",
            cache_key=f"{index:064d}",
            created_by=UserFactory(),
        )


def _notifications(world: World, count: int) -> None:
    for index in range(count):
        Notification.objects.create(user=world.owner, title=f"Note {index}")


def _users(world: World, count: int) -> None:
    for _ in range(count):
        UserFactory()


ENDPOINTS: dict[str, tuple[Callable[[World], str], Callable[[World, int], None]]] = {
    "projects": (lambda w: "/api/v1/projects", _projects),
    "project members": (lambda w: f"/api/v1/projects/{w.project.pk}/members", _members),
    "datasets": (lambda w: f"/api/v1/datasets?project={w.project.pk}", _datasets),
    "automl jobs": (lambda w: f"/api/v1/automl/jobs?project={w.project.pk}", _jobs),
    "registered models": (lambda w: "/api/v1/registered-models", _registered_models),
    "model versions": (lambda w: "/api/v1/models", _versions),
    "deployments": (
        lambda w: f"/api/v1/registered-models/{w.version.registered_model_id}/deployments",
        _deployments,
    ),
    "batch predictions": (lambda w: f"/api/v1/models/{w.version.pk}/batch-predictions", _batch_predictions),
    "explanations": (lambda w: "/api/v1/explain", _explanations),
    "notifications": (lambda w: "/api/v1/notifications", _notifications),
    "users": (lambda w: "/api/v1/users", _users),
}


def _count(client: APIClient, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    body = response.json()
    rows = body["count"] if isinstance(body, dict) and "count" in body else len(body)
    return len(captured), rows


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_a_list_costs_the_same_queries_for_few_rows_as_for_many(name):
    url_of, add = ENDPOINTS[name]
    world = World()
    client = APIClient()
    client.force_authenticate(world.owner)
    url = url_of(world)
    add(world, FEW)
    _count(client, url)  # the first request fills per-user caches
    few, few_rows = _count(client, url)
    add(world, MANY - FEW)
    many, many_rows = _count(client, url)
    assert many_rows >= few_rows + MANY - FEW, f"{name}: the rows added are not listed ({few_rows} -> {many_rows})"
    assert many == few, f"{name}: {few} queries for {few_rows} rows, {many} for {many_rows}"
