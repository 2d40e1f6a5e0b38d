"""AutoML test set-up: keep every AutoGluon fit of a worker started by these tests on one CPU."""

import os

import pytest

# Read by the Celery worker process (it inherits this environment when a fixture starts it).
os.environ.setdefault("AUTOML_NUM_CPUS", "1")
os.environ.setdefault("AUTOML_HEARTBEAT_INTERVAL", "0.5")


@pytest.fixture
def small_models(settings):
    """Jobs created in the test fit LightGBM only (recorded on the job, so any worker honours it)."""
    settings.AUTOML_HYPERPARAMETERS = {"GBM": {}}
    return settings.AUTOML_HYPERPARAMETERS


@pytest.fixture
def role_groups(transactional_db):
    """Transactional tests flush the role groups a data migration made; make them again."""
    from django.contrib.auth.models import Group, Permission

    from apps.accounts.roles import role_groups_sync

    role_groups_sync(Group, Permission)
