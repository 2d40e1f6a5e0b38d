"""Keeping MLflow's model registry in step with Maestro's: every registered model and version is
registered there with tags linking back, and the ``production`` alias follows deployments. Failures
are recorded on the rows (``mlflow_sync_status``) and retried by ``apps.registry.tasks``."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from apps.core.exceptions import ServiceUnavailable
from apps.core.mlflow_store import is_transient_mlflow_error, mlflow_client
from apps.registry.choices import SyncStatus
from apps.registry.models import ModelVersion, RegisteredModel

logger = logging.getLogger("maestro.registry")

PRODUCTION_ALIAS = "production"


class MlflowSyncFailed(ServiceUnavailable):
    default_message = "The MLflow model registry could not be updated; a task retries."


def mlflow_name_for(registered_model: RegisteredModel) -> str:
    """MLflow's registry is global: prefix and id make the name unique across projects."""
    return f"{settings.MLFLOW_REGISTRY_NAME_PREFIX}-{registered_model.pk}-{slugify(registered_model.name)}"[:255]


def artifact_source_uri(version: ModelVersion) -> str:
    """Where the version's predictor archive lives, as a URI MLflow can record."""
    storage = version.artifact.storage
    try:
        return Path(storage.path(version.artifact.name)).as_uri()
    except NotImplementedError:
        bucket = getattr(storage, "bucket_name", "")
        location = getattr(storage, "location", "")
        key = f"{location.strip('/')}/{version.artifact.name}" if location else version.artifact.name
        return f"s3://{bucket}/{key}" if bucket else storage.url(version.artifact.name)


def _is_missing(exc: Exception) -> bool:
    return getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"


def _ensure_mlflow_registered_model(client, registered_model: RegisteredModel) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(registered_model.mlflow_name)
    except MlflowException as exc:
        if not _is_missing(exc):
            raise
        client.create_registered_model(
            registered_model.mlflow_name,
            tags={
                "maestro.registered_model_id": str(registered_model.pk),
                "maestro.registered_model_name": registered_model.name,
                "maestro.project_id": str(registered_model.project_id),
            },
            description=registered_model.description or None,
        )


def _ensure_mlflow_version(client, registered_model: RegisteredModel, version: ModelVersion) -> str:
    """The MLflow version number of ``version``, registering it when MLflow does not have it yet."""
    if version.mlflow_version:
        return version.mlflow_version
    found = client.search_model_versions(
        f"name='{registered_model.mlflow_name}' and tags.`maestro.model_version_id`='{version.pk}'"
    )
    if found:
        return str(found[0].version)
    tags = {
        "maestro.model_version_id": str(version.pk),
        "maestro.version": str(version.version),
        "maestro.registered_model_id": str(registered_model.pk),
        "maestro.project_id": str(registered_model.project_id),
        "maestro.dataset_id": str(version.dataset_id),
        "maestro.artifact_sha256": version.artifact_sha256,
    }
    if version.job_id:
        tags["maestro.job_id"] = str(version.job_id)
    created = client.create_model_version(
        registered_model.mlflow_name,
        source=artifact_source_uri(version),
        run_id=version.mlflow_run_id or None,
        tags=tags,
        description=f"{registered_model.name} v{version.version} ({version.task_type}, target {version.target})",
    )
    return str(created.version)


def _sync_alias(client, registered_model: RegisteredModel) -> None:
    production = registered_model.production_version
    aliases = dict(client.get_registered_model(registered_model.mlflow_name).aliases or {})
    if production is None:
        if PRODUCTION_ALIAS in aliases:
            client.delete_registered_model_alias(registered_model.mlflow_name, PRODUCTION_ALIAS)
        return
    if not production.mlflow_version:
        raise RuntimeError(f"production version {production.version} is not registered in MLflow yet")
    if str(aliases.get(PRODUCTION_ALIAS)) != production.mlflow_version:
        client.set_registered_model_alias(registered_model.mlflow_name, PRODUCTION_ALIAS, production.mlflow_version)


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:5000]


def registered_model_mlflow_sync(*, registered_model_id: int) -> RegisteredModel | None:
    """Bring MLflow in step with a registered model: the model, every version (tagged with our ids) and
    the ``production`` alias. Failures are recorded on the rows, then raised so that the task retries."""
    errors: list[str] = []
    with transaction.atomic():
        registered_model = (
            RegisteredModel.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("production_version")
            .filter(pk=registered_model_id)
            .first()
        )
        if registered_model is None:  # deleted, or another worker is syncing it right now
            return None
        if not registered_model.mlflow_name:
            registered_model.mlflow_name = mlflow_name_for(registered_model)
            registered_model.save(update_fields=["mlflow_name", "updated_at"])
        now = timezone.now()
        try:
            client = mlflow_client()
            _ensure_mlflow_registered_model(client, registered_model)
        except Exception as exc:  # MLflow unreachable or refusing: recorded, retried by the task
            error = _error_text(exc)
            errors.append(error)
            pending = registered_model.versions.exclude(mlflow_sync_status=SyncStatus.SYNCED)
            for version in pending.select_for_update():
                version.mlflow_sync_status = SyncStatus.FAILED
                version.mlflow_sync_error = error
                version.mlflow_sync_attempts += 1
                version.save(update_fields=["mlflow_sync_status", "mlflow_sync_error", "mlflow_sync_attempts"])
            client = None
        if client is not None:
            outstanding = registered_model.versions.select_for_update().exclude(
                mlflow_sync_status=SyncStatus.SYNCED, mlflow_version__gt=""
            )
            for version in outstanding.order_by("version"):  # oldest first, so MLflow's numbers follow ours
                try:
                    version.mlflow_version = _ensure_mlflow_version(client, registered_model, version)
                except Exception as exc:
                    version.mlflow_sync_status = SyncStatus.FAILED
                    version.mlflow_sync_error = _error_text(exc)
                    errors.append(f"v{version.version}: {version.mlflow_sync_error}")
                else:
                    version.mlflow_sync_status = SyncStatus.SYNCED
                    version.mlflow_sync_error = ""
                    version.mlflow_synced_at = now
                version.mlflow_sync_attempts += 1
                version.save(
                    update_fields=[
                        "mlflow_version",
                        "mlflow_sync_status",
                        "mlflow_sync_error",
                        "mlflow_sync_attempts",
                        "mlflow_synced_at",
                    ]
                )
            registered_model.refresh_from_db(fields=["production_version"])
            try:
                _sync_alias(client, registered_model)
            except Exception as exc:
                errors.append(f"alias: {_error_text(exc)}")
        registered_model.mlflow_sync_status = SyncStatus.FAILED if errors else SyncStatus.SYNCED
        registered_model.mlflow_sync_error = "\n".join(errors)[:5000]
        if not errors:
            registered_model.mlflow_synced_at = now
        registered_model.save(
            update_fields=["mlflow_name", "mlflow_sync_status", "mlflow_sync_error", "mlflow_synced_at", "updated_at"]
        )
    if errors:
        logger.warning("MLflow sync of registered model %s failed: %s", registered_model_id, errors[0])
        raise MlflowSyncFailed(f"MLflow sync of registered model {registered_model_id} failed: {errors[0]}")
    return registered_model


def mlflow_sync_outstanding(*, settle_seconds: int = 60) -> list[int]:
    """Ids of registered models whose MLflow state is pending or failed (and not brand new): the sweep's work."""
    cutoff = timezone.now() - timedelta(seconds=settle_seconds)
    out_of_step = [SyncStatus.PENDING, SyncStatus.FAILED]
    return list(
        RegisteredModel.objects.filter(
            Q(mlflow_sync_status__in=out_of_step, updated_at__lt=cutoff)
            | Q(versions__mlflow_sync_status__in=out_of_step, versions__created_at__lt=cutoff)
        )
        .distinct()
        .values_list("pk", flat=True)
    )


def mlflow_model_version_delete(*, mlflow_name: str, mlflow_version: str) -> None:
    """Remove a deleted version from MLflow's registry too (a missing one is fine)."""
    from mlflow.exceptions import MlflowException

    try:
        mlflow_client().delete_model_version(mlflow_name, mlflow_version)
    except MlflowException as exc:
        if _is_missing(exc):
            return
        if is_transient_mlflow_error(exc):
            raise MlflowSyncFailed(f"MLflow could not delete {mlflow_name} v{mlflow_version}: {exc}") from exc
        raise
    except OSError as exc:  # connection refused, reset, timed out: MLflow is unreachable for now
        raise MlflowSyncFailed(f"MLflow is unreachable: {exc}") from exc
