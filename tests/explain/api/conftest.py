"""The explanations API on real registered versions: the registry's session-trained predictors."""

from tests.registry.conftest import (  # noqa: F401 - fixtures
    make_job,
    make_version,
    registry_settings,
    role_groups,
    trained,
)
