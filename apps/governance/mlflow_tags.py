"""Mirroring a version's approval state to its MLflow model version as tags (``maestro.approval_state``,
``maestro.approval_request_id``), best effort: the ``production`` alias stays the registry's."""

from __future__ import annotations

import logging

from apps.core.exceptions import ServiceUnavailable
from apps.core.mlflow_store import is_transient_mlflow_error, mlflow_client

logger = logging.getLogger("maestro.governance")

STATE_TAG = "maestro.approval_state"
REQUEST_TAG = "maestro.approval_request_id"


class MirrorRetry(ServiceUnavailable):
    """MLflow cannot take the tag now (unreachable, or the version is not registered there yet): the task retries."""


def approval_state_mirror(*, version_id: int) -> str | None:
    """Set the tags on the MLflow version of ``version_id`` to its latest request; answers the state written (None
    when there is nothing to write). Transient failures raise :class:`MirrorRetry`; others are logged."""
    from apps.governance.selectors import latest_request_of
    from apps.registry.models import ModelVersion

    version = ModelVersion.objects.select_related("registered_model").filter(pk=version_id).first()
    if version is None:
        return None
    request = latest_request_of(version=version)
    if request is None:
        return None
    if not version.mlflow_version or not version.registered_model.mlflow_name:
        raise MirrorRetry(f"model version {version_id} is not registered in MLflow yet")
    try:
        client = mlflow_client()
        name, number = version.registered_model.mlflow_name, version.mlflow_version
        client.set_model_version_tag(name, number, STATE_TAG, request.state)
        client.set_model_version_tag(name, number, REQUEST_TAG, str(request.pk))
    except Exception as exc:
        if is_transient_mlflow_error(exc):
            raise MirrorRetry(f"MLflow did not take the approval tag of version {version_id}: {exc}") from exc
        logger.warning("The approval state of version %s was not mirrored to MLflow: %s", version_id, exc)
        return None
    return request.state
