"""Governance fixtures: the registry's real versions (tiny AutoGluon predictors), a team with one user per role,
tasks run in this process where a test needs the feature-importance hook overridden, and helpers for the API."""

from __future__ import annotations

import pytest

from tests.governance.factories import Team, make_team
from tests.registry.conftest import *  # noqa: F403 - trained, make_job, make_version, registry_settings, role_groups


@pytest.fixture
def team(make_version) -> Team:
    return make_team(make_version)


@pytest.fixture
def no_explanations_queued(settings):
    """Versions made by a transactional test queue no global explanation (the shared worker would spend tens of
    seconds on each); ask for it before ``team``."""
    settings.EXPLAIN_ON_REGISTRATION = False


@pytest.fixture
def explained():
    """A global explanation exists for every version (the explain app is not part of these tests)."""
    from apps.registry import hooks

    with hooks.override(feature_importances=lambda versions: {v.pk: {"Age": 0.4, "Sex": 0.3} for v in versions}):
        yield


@pytest.fixture
def tasks_here(settings):
    """Celery tasks queued by the code under test run in this process, at once (on commit)."""
    from config.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved
