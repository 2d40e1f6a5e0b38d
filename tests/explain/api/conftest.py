"""The explanations API on real registered versions: the registry's session-trained predictors."""

import pytest

from tests.registry.conftest import (  # noqa: F401 - fixtures
    make_job,
    make_version,
    registry_settings,
    role_groups,
    trained,
)


@pytest.fixture(autouse=True)
def roomy_budgets(settings):
    """Budgets large enough that the tests' tiny models are explained exactly as asked; the tests of budgets set
    their own."""
    settings.EXPLAIN_LOCAL_BUDGET_S = 30.0
    settings.EXPLAIN_SYNC_BUDGET_S = 60.0
    settings.EXPLAIN_GLOBAL_BUDGET_S = 300.0
    return settings
