"""The registered-models list costs the same number of queries for 2 models as for 12, and reads no
version's card or leaderboard (only the summary its versions are listed with)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.registry.models import ModelVersion, RegisteredModel
from tests.accounts.factories import UserFactory
from tests.projects.factories import DatasetFactory, ProjectFactory

pytestmark = pytest.mark.django_db

HEAVY = {"card": {"text": "c" * 20_000}, "leaderboard": [{"model": f"m{index}"} for index in range(500)]}


def add_models(project, count: int, versions: int = 3) -> None:
    dataset = DatasetFactory(project=project)
    for _ in range(count):
        author = UserFactory()  # every model by someone else: a per-row lookup would show
        registered_model = RegisteredModel.objects.create(project=project, name=f"model-{author.username}")
        registered_model.created_by = author
        registered_model.save()
        for number in range(1, versions + 1):
            version = ModelVersion.objects.create(
                registered_model=registered_model,
                version=number,
                features=[{"name": "x", "dtype": "float"}],
                target="y",
                task_type="binary",
                artifact="artifacts/none.tar.gz",
                artifact_sha256="0" * 64,
                dataset=dataset,
                metrics={"accuracy": 0.9},
                created_by=author,
                **HEAVY,
            )
        registered_model.production_version = version
        registered_model.save()


def list_queries(client, project) -> tuple[int, list[str], dict]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/v1/registered-models?project={project.pk}")
    assert response.status_code == 200
    return len(captured), [query["sql"] for query in captured.captured_queries], response.json()


def test_the_registered_models_list_is_constant_in_queries_and_reads_no_card(django_assert_max_num_queries):
    project = ProjectFactory()
    client = APIClient()
    client.force_authenticate(project.owner)
    add_models(project, 2)
    list_queries(client, project)  # the first request also fills the user's permission cache
    few, _, body = list_queries(client, project)
    assert body["count"] == 2 and body["results"][0]["created_by"].startswith("user")
    add_models(project, 10)
    many, sql, body = list_queries(client, project)
    assert body["count"] == 12 and len(body["results"][0]["versions"]) == 3
    assert many == few, f"{few} queries for 2 models, {many} for 12"
    with django_assert_max_num_queries(few):
        client.get(f"/api/v1/registered-models?project={project.pk}")
    version_reads = [query for query in sql if '"registry_modelversion"' in query]
    assert version_reads and not any('"card"' in query or '"leaderboard"' in query for query in version_reads)


def test_the_project_models_page_is_constant_in_queries_too():
    from django.test import Client

    project = ProjectFactory()
    browser = Client()
    browser.force_login(project.owner)
    add_models(project, 2)
    with CaptureQueriesContext(connection) as few:
        assert browser.get(f"/projects/{project.pk}/models/").status_code == 200
    add_models(project, 8)
    with CaptureQueriesContext(connection) as many:
        assert browser.get(f"/projects/{project.pk}/models/").status_code == 200
    assert len(many) == len(few)
    assert not any(
        '"card"' in query["sql"] for query in many.captured_queries if "registry_modelversion" in query["sql"]
    )
