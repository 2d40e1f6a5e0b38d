"""Monitoring fixtures: one real tiny predictor (titanic, binary) registered and deployed as the registry's
tests make them, and a prediction log that is drained by the test (no writer thread)."""

from __future__ import annotations

import pytest

from apps.monitoring.logbook import monitor_states, writer
from apps.registry.services import model_version_deploy
from tests.projects.factories import DatasetFactory, ProjectFactory
from tests.registry import conftest as registry

# The registry's fixtures, reused here.
approvals, make_job, make_version, registry_settings, role_groups = (
    registry.approvals,
    registry.make_job,
    registry.make_version,
    registry.registry_settings,
    registry.role_groups,
)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """Only the titanic predictor (the registry's fixture trains three)."""
    from django.conf import settings

    return {"titanic": registry._train("titanic", tmp_path_factory.mktemp("monitoring"), settings.MLFLOW_TRACKING_URI)}


@pytest.fixture(autouse=True)
def fresh_log():
    monitor_states.forget()
    writer.stop()
    writer._pid = None  # a new queue, sized by the test's settings
    yield writer
    writer.stop()
    writer._pid = None
    monitor_states.forget()


@pytest.fixture
def production(make_version, approvals):
    """A titanic version deployed to production in a fresh project (its owner deployed it)."""
    project = ProjectFactory()
    version = make_version("titanic", dataset=DatasetFactory(project=project, name="titanic"))
    model_version_deploy(version=version, user=project.owner, comment="monitoring tests")
    version.refresh_from_db()
    return version
