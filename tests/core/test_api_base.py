"""The shared API pieces: one 404 for an invisible project in any list's filter, 400 for a bad filter,
and a 409 backstop for deletes no service guarded."""

from __future__ import annotations

import pytest
from django.db.models import ProtectedError

from apps.core.api import exception_handler
from tests.accounts.helpers import client_for
from tests.projects.factories import DatasetFactory, ProjectFactory

pytestmark = pytest.mark.django_db

LISTS = ["/api/v1/datasets", "/api/v1/automl/jobs", "/api/v1/registered-models", "/api/v1/models"]


@pytest.mark.parametrize("url", LISTS)
def test_a_project_filter_naming_an_invisible_project_answers_404_on_every_list(url):
    mine, theirs = ProjectFactory(), ProjectFactory()
    client = client_for(mine.owner)
    assert client.get(f"{url}?project={theirs.pk}").status_code == 404
    assert client.get(f"{url}?project=999999").status_code == 404
    assert client.get(f"{url}?project={mine.pk}").status_code == 200


@pytest.mark.parametrize("url", LISTS)
def test_a_malformed_project_filter_answers_400_naming_it(url):
    project = ProjectFactory()
    response = client_for(project.owner).get(f"{url}?project=abc")
    assert response.status_code == 400
    assert "project" in response.json()


def test_an_unguarded_protected_delete_answers_409_listing_what_depends_on_it():
    dataset = DatasetFactory()
    response = exception_handler(ProtectedError("protected", {dataset}), {})
    assert response.status_code == 409
    assert "1 dataset" in response.data["detail"]
    assert response.data["dependents"] == ["projects.dataset"]
