"""Writes and business rules of the model registry: registration, cards, deployment, deletion and batch
prediction. Keeping MLflow's model registry in step is ``apps.registry.mlflow_sync``."""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Max, ProtectedError, Q
from django.utils import timezone
from django.utils.text import slugify

from apps.automl.choices import JobStatus
from apps.automl.models import TrainingJob
from apps.core.deletion import delete_refused
from apps.core.exceptions import Conflict, NotFound, ServiceUnavailable, ValidationError
from apps.core.work import work_created, work_transition
from apps.projects.choices import ProjectRole
from apps.projects.csv_safety import frame_to_safe_csv
from apps.projects.models import Dataset
from apps.projects.permissions import check_project_access
from apps.projects.selectors import dataset_dataframe
from apps.registry import hooks, signals
from apps.registry.cards import card_inputs, card_inputs_digest
from apps.registry.choices import BatchStatus, DeploymentAction, SyncStatus, VersionStatus
from apps.registry.hooks import approval_for, deploy_authorizer
from apps.registry.mlflow_sync import mlflow_name_for
from apps.registry.models import BatchPrediction, Deployment, ModelVersion, RegisteredModel
from apps.registry.selectors import rollback_target

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger("maestro.registry")

MAX_TEXT = 10_000


# ---------------------------------------------------------------------------
# Registration and cards
# ---------------------------------------------------------------------------
def default_registered_model_name(*, job: TrainingJob) -> str:
    """``<project>-<dataset>-<target>`` as a slug: what a job's model is called unless the job named one."""
    return slugify(f"{job.project.name}-{job.dataset.name}-{job.target}")[:200] or f"job-{job.pk}"


def _enqueue_mlflow_sync(registered_model_id: int) -> None:
    from apps.registry.tasks import sync_registered_model_to_mlflow

    sync_registered_model_to_mlflow.delay(registered_model_id)


@transaction.atomic
def model_version_register_from_job(*, job_id: int) -> ModelVersion:
    """Register the best model of a succeeded AutoML job as the next version of its registered model.

    Idempotent: a job registers at most one version (a database constraint); calling again answers it.
    """
    job = (
        TrainingJob.objects.select_for_update(of=("self",))
        .select_related("project", "dataset", "created_by")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        raise NotFound(f"Training job {job_id} does not exist.")
    existing = ModelVersion.objects.filter(job=job).first()
    if existing is not None:
        return existing
    if job.status != JobStatus.SUCCEEDED:
        raise Conflict(f"Training job {job.pk} is {job.status}; only a succeeded job registers a model.")
    if not job.artifact or not job.artifact_sha256:
        raise Conflict(f"Training job {job.pk} has no hashed predictor archive to register.")
    if not job.features:
        raise Conflict(f"Training job {job.pk} recorded no feature schema; its model could not be served.")

    name = (job.registered_model_name or "").strip() or default_registered_model_name(job=job)
    registered_model, created = RegisteredModel.objects.get_or_create(
        project=job.project,
        name=name,
        defaults={"created_by": job.created_by, "description": f"{job.target} from dataset {job.dataset.name}"},
    )
    registered_model = RegisteredModel.objects.select_for_update().get(pk=registered_model.pk)
    if not registered_model.mlflow_name:
        registered_model.mlflow_name = mlflow_name_for(registered_model)
        registered_model.save(update_fields=["mlflow_name", "updated_at"])
    last = registered_model.versions.aggregate(last=Max("version"))["last"] or 0
    version = ModelVersion(
        registered_model=registered_model,
        version=last + 1,
        status=VersionStatus.REGISTERED,
        metrics=job.metrics or {},
        features=job.features,
        target=job.target,
        task_type=job.problem_type or job.task_type,
        class_labels=job.class_labels or [],
        artifact=job.artifact.name,
        artifact_sha256=job.artifact_sha256,
        artifact_size=job.artifact_size,
        job=job,
        dataset=job.dataset,
        mlflow_run_id=job.mlflow_run_id or "",
        eval_metric=job.eval_metric or "",
        best_model=job.best_model or "",
        leaderboard=job.leaderboard or [],
        evaluation=job.evaluation or {},
        created_by=job.created_by,
    )
    version.full_clean()
    version.save()
    model_card_refresh(version=version)
    logger.info("Registered %s v%s (id=%s) from job %s", registered_model.name, version.version, version.pk, job.pk)
    transaction.on_commit(lambda: _enqueue_mlflow_sync(registered_model.pk))
    transaction.on_commit(lambda: signals.model_version_registered.send(sender=ModelVersion, version_id=version.pk))
    return version


def model_card_refresh(*, version: ModelVersion, force: bool = False) -> ModelVersion:
    """Rebuild the version's card when what it is made of changed (or when ``force``)."""
    inputs = card_inputs(version)
    digest = card_inputs_digest(inputs)
    if not force and version.card and digest == version.card_inputs_sha256:
        return version
    now = timezone.now()
    card = {**inputs, "generated_at": now.isoformat()}
    ModelVersion.objects.filter(pk=version.pk).update(card=card, card_inputs_sha256=digest, card_generated_at=now)
    version.card, version.card_inputs_sha256, version.card_generated_at = card, digest, now
    return version


@transaction.atomic
def model_version_update(
    *, version: ModelVersion, user: User, intended_use: str | None = None, limitations: str | None = None
) -> ModelVersion:
    """Edit the human-written parts of a version's card; the card is regenerated."""
    check_project_access(
        user=user, project=version.registered_model.project, minimum=ProjectRole.EDITOR, capability="models:edit"
    )
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    changed = []
    for field, value in (("intended_use", intended_use), ("limitations", limitations)):
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValidationError("Must be text.", field=field)
        if len(value) > MAX_TEXT:
            raise ValidationError(f"At most {MAX_TEXT} characters.", field=field)
        setattr(version, field, value.strip())
        changed.append(field)
    if changed:
        version.save(update_fields=[*changed, "updated_at"])
        model_card_refresh(version=version)
    return version


@transaction.atomic
def registered_model_update(
    *, registered_model: RegisteredModel, user: User, description: str | None = None, tags: list[str] | None = None
) -> RegisteredModel:
    check_project_access(
        user=user, project=registered_model.project, minimum=ProjectRole.EDITOR, capability="models:edit"
    )
    registered_model = RegisteredModel.objects.select_for_update().get(pk=registered_model.pk)
    if description is not None:
        if len(description) > MAX_TEXT:
            raise ValidationError(f"At most {MAX_TEXT} characters.", field="description")
        registered_model.description = description.strip()
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(tag, str) and 0 < len(tag) <= 64 for tag in tags):
            raise ValidationError("Tags are a list of non-empty strings of at most 64 characters.", field="tags")
        registered_model.tags = sorted(set(tags))
    registered_model.full_clean()
    registered_model.save()
    return registered_model


# ---------------------------------------------------------------------------
# Deployment
# ---------------------------------------------------------------------------
def _check_approval(version: ModelVersion) -> None:
    approval = approval_for(version)
    if approval.deployable:
        return
    if approval.state is None:
        raise Conflict(
            f"model version {version.version} has no approved approval request; submit it for approval "
            "and have it approved before deploying.",
            extra={"missing": "approval", "approval_state": None},
        )
    reason = approval.reason or f"its approval request is '{approval.state}', not 'approved'"
    raise Conflict(
        f"model version {version.version} cannot be deployed: {reason}.",
        extra={"missing": "approval", "approval_state": approval.state},
    )


def _after_production_change(registered_model: RegisteredModel, deployment: Deployment) -> None:
    transaction.on_commit(lambda: _enqueue_mlflow_sync(registered_model.pk))
    transaction.on_commit(
        lambda: signals.model_version_deployed.send(
            sender=ModelVersion,
            version_id=deployment.model_version_id,
            deployment_id=deployment.pk,
            action=deployment.action,
            previous_version_id=deployment.previous_version_id,
        )
    )


def _production_switch(
    *, registered_model: RegisteredModel, version: ModelVersion, action: str, user: User, comment: str
) -> Deployment:
    """Make ``version`` the production version (rows already locked by the caller) and record the change."""
    previous = registered_model.production_version
    if previous is not None:
        previous.status = VersionStatus.ARCHIVED
        previous.save(update_fields=["status", "updated_at"])
    version.status = VersionStatus.PRODUCTION
    version.save(update_fields=["status", "updated_at"])
    registered_model.production_version = version
    registered_model.mlflow_sync_status = SyncStatus.PENDING
    registered_model.save(update_fields=["production_version", "mlflow_sync_status", "updated_at"])
    return Deployment.objects.create(
        registered_model=registered_model,
        model_version=version,
        previous_version=previous,
        action=action,
        deployed_by=user,
        comment=(comment or "")[:MAX_TEXT],
    )


def _check_may_deploy(*, project, user: User) -> None:
    """Who may deploy in ``project`` at all: the app above's rule when it registered one, else an editor holding
    ``models:deploy``. Checked before any state, so someone who may never deploy gets 403 whatever the state."""
    authorizer = deploy_authorizer()
    if authorizer is None:
        check_project_access(user=user, project=project, minimum=ProjectRole.EDITOR, capability="models:deploy")
    else:
        authorizer.check_actor(project=project, user=user)


def _authorize_deploy(*, version: ModelVersion, user: User, action: str, comment: str) -> None:
    """Whether this locked ``version`` may go to production now: the app above's rule, else a deployable approval."""
    authorizer = deploy_authorizer()
    if authorizer is None:
        _check_approval(version)
    else:
        authorizer.authorize(version=version, user=user, action=action, comment=comment)


@transaction.atomic
def model_version_deploy(*, version: ModelVersion, user: User, comment: str = "") -> Deployment:
    """Make an approved version its registered model's production version, recording who, when and what before."""
    _check_may_deploy(project=version.registered_model.project, user=user)
    registered_model = RegisteredModel.objects.select_for_update().get(pk=version.registered_model_id)
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    authorizer = deploy_authorizer()
    if authorizer is not None:  # its answer (403/409) comes before the state of the registered model's production
        authorizer.authorize(version=version, user=user, action=DeploymentAction.DEPLOY, comment=comment)
    if registered_model.production_version_id == version.pk:
        raise Conflict(
            f"model version {version.version} is already the production version of '{registered_model.name}'."
        )
    if authorizer is None:
        _check_approval(version)
    previous = registered_model.production_version
    deployment = _production_switch(
        registered_model=registered_model, version=version, action=DeploymentAction.DEPLOY, user=user, comment=comment
    )
    logger.info(
        "Deployed %s v%s (previous %s) by %s",
        registered_model.name,
        version.version,
        f"v{previous.version}" if previous else "none",
        user,
    )
    _after_production_change(registered_model, deployment)
    return deployment


@transaction.atomic
def training_job_deploy(*, job: TrainingJob, user: User, comment: str = "") -> Deployment:
    """Deploy the version a job registered (``POST automl/jobs/{id}/deploy``)."""
    version = ModelVersion.objects.select_related("registered_model__project").filter(job=job).first()
    if version is None:
        raise Conflict(f"Training job {job.pk} has no registered model version (its status is {job.status}).")
    return model_version_deploy(version=version, user=user, comment=comment)


@transaction.atomic
def registered_model_rollback(*, registered_model: RegisteredModel, user: User, comment: str = "") -> Deployment:
    """Put the previous production version back in production, in one call."""
    _check_may_deploy(project=registered_model.project, user=user)
    registered_model = RegisteredModel.objects.select_for_update().get(pk=registered_model.pk)
    current = registered_model.production_version
    if current is None:
        raise Conflict(f"'{registered_model.name}' has no production version to roll back.")
    target = rollback_target(registered_model=registered_model)
    if target is None:
        raise Conflict(f"'{registered_model.name}' has no earlier production version to roll back to.")
    target = ModelVersion.objects.select_for_update().get(pk=target.pk)
    _authorize_deploy(version=target, user=user, action=DeploymentAction.ROLLBACK, comment=comment)
    deployment = _production_switch(
        registered_model=registered_model, version=target, action=DeploymentAction.ROLLBACK, user=user, comment=comment
    )
    logger.info("Rolled %s back from v%s to v%s by %s", registered_model.name, current.version, target.version, user)
    _after_production_change(registered_model, deployment)
    return deployment


# ---------------------------------------------------------------------------
# Deletion
# ---------------------------------------------------------------------------
@transaction.atomic
def model_version_delete(*, version: ModelVersion, user: User) -> None:
    """Delete a version nobody depends on. Deployed (or once deployed) versions are kept: 409."""
    registered_model = version.registered_model
    check_project_access(
        user=user, project=registered_model.project, minimum=ProjectRole.EDITOR, capability="models:delete"
    )
    registered_model = RegisteredModel.objects.select_for_update().get(pk=registered_model.pk)
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if registered_model.production_version_id == version.pk:
        raise Conflict(
            f"model version {version.version} is deployed as the production version of '{registered_model.name}'; "
            "deploy another version or roll back before deleting it."
        )
    if Deployment.objects.filter(Q(model_version=version) | Q(previous_version=version)).exists():
        raise Conflict(
            f"model version {version.version} appears in the deployment history of '{registered_model.name}' "
            "and can be rolled back to; it is kept."
        )
    if version.batch_predictions.exists():
        raise Conflict(f"model version {version.version} has batch predictions; it is kept for their lineage.")
    mlflow_name, mlflow_version, version_id = registered_model.mlflow_name, version.mlflow_version, version.pk
    sha256 = version.artifact_sha256
    try:
        with transaction.atomic():
            version.delete()
    except ProtectedError as exc:
        raise delete_refused(f"model version {version.version}", exc) from exc
    logger.info("Deleted model version id=%s (%s) by %s", version_id, registered_model.name, user)

    def after_commit() -> None:
        from apps.registry.serving import cache_root, predictor_cache
        from apps.registry.tasks import delete_mlflow_model_version

        predictor_cache.evict(version_id)
        if not ModelVersion.objects.filter(artifact_sha256=sha256).exists():
            shutil.rmtree(cache_root() / sha256, ignore_errors=True)  # this host's extracted copy
        if mlflow_name and mlflow_version:
            delete_mlflow_model_version.delay(mlflow_name, mlflow_version)

    transaction.on_commit(after_commit)


# ---------------------------------------------------------------------------
# Batch prediction
# ---------------------------------------------------------------------------
@transaction.atomic
def batch_prediction_create(*, version: ModelVersion, dataset: Dataset, user: User) -> BatchPrediction:
    """Queue predictions of ``version`` for every row of ``dataset`` (same project), made by a worker."""
    project = version.registered_model.project
    check_project_access(user=user, project=project, minimum=ProjectRole.EDITOR, capability="models:predict")
    if dataset.project_id != project.pk:
        raise ValidationError(
            f"Dataset {dataset.pk} belongs to another project than model version {version.version}.",
            field="dataset_id",
        )
    columns = {column.get("name") for column in dataset.columns or []}
    missing = [feature["name"] for feature in version.features if feature["name"] not in columns]
    if columns and missing:
        raise ValidationError(
            f"Dataset '{dataset.name}' lacks the features {', '.join(repr(name) for name in missing)}.",
            field="dataset_id",
        )
    batch = BatchPrediction.objects.create(
        model_version=version, dataset=dataset, created_by=user, celery_task_id=str(uuid.uuid4())
    )
    work_created(batch, by=user, message=f"Queued: predict {dataset.n_rows or 'all'} rows of '{dataset.name}'.")
    _batch_prediction_send(batch)
    return batch


def _batch_prediction_send(batch: BatchPrediction) -> None:
    """Send the batch's task *before* its row commits, inside the same transaction: if the broker cannot be
    reached the error rolls the row back (503, nothing left queued for ever), and a row is only ever
    committed with its task sent. A worker may take the task before the commit: the task waits for the
    row (``tasks.run_batch_prediction``). Sending after the commit instead (``on_commit``) would leave a
    queued row behind whenever the broker is down or the process stops in between."""
    from apps.registry.tasks import run_batch_prediction

    try:
        run_batch_prediction.apply_async(args=[batch.pk], task_id=batch.celery_task_id)
    except Exception as exc:  # noqa: BLE001 - whatever the broker raises, the batch could not be queued
        logger.error("Could not queue batch prediction %s: %s: %s", batch.pk, type(exc).__name__, exc)
        raise ServiceUnavailable(
            "The prediction queue is unavailable, so the batch was not queued (nothing was saved). "
            "Try again in a few minutes; if it keeps happening, ask an administrator to check the broker."
        ) from exc


def _prediction_frame(version: ModelVersion, frame):
    """Input columns + ``prediction`` + one ``probability_<class>`` column per class."""
    from apps.registry.serving import feature_kind, predict_frame

    features = [feature["name"] for feature in version.features]
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise ValidationError(f"The dataset lacks the features {', '.join(repr(name) for name in missing)}.")
    inputs = frame[features].copy()
    for feature in version.features:
        if feature_kind(feature.get("dtype", "")) == "string":
            inputs[feature["name"]] = inputs[feature["name"]].astype("object")
    predictions, proba = predict_frame(version=version, frame=inputs)
    output = frame.copy()
    output["prediction"] = predictions.to_numpy()
    if proba is not None:
        for label in proba.columns:
            output[f"probability_{label}"] = proba[label].to_numpy()
    return output


def batch_prediction_run(*, batch_id: int, task_id: str | None = None) -> BatchPrediction | None:
    """Make the predictions of a queued batch and store them as a CSV. Idempotent: an ended batch is
    left alone, and a redelivered one (its worker was lost) is tried again until ``max_attempts``. A task
    whose id is not the one the batch was queued with (``task_id``) is not its task and does nothing."""
    with transaction.atomic():
        batch = BatchPrediction.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None or not batch.is_active:
            return batch
        if task_id and batch.celery_task_id and task_id != batch.celery_task_id:
            logger.warning("Task %s is not the task of batch prediction %s; it was ignored", task_id, batch_id)
            return batch
        if batch.status == BatchStatus.RUNNING:
            work_transition(batch, batch.requeue, message="The worker running this batch was lost; it runs again.")
        if not batch.attempts_left():
            batch.error = (
                f"The batch stopped its worker {batch.attempts} times (probably out of memory) and was given up; "
                "try a smaller dataset."
            )
            batch.finished_at = timezone.now()
            work_transition(batch, batch.fail, message=batch.error)
            return batch
        batch.started_at = timezone.now()
        work_transition(batch, batch.start, message=f"Attempt {batch.attempts + 1}.")
    batch = BatchPrediction.objects.select_related("model_version__registered_model", "dataset").get(pk=batch_id)
    try:
        frame = dataset_dataframe(dataset=batch.dataset)
        output = _prediction_frame(batch.model_version, frame)
        hooks.batch_predictions_made(
            version=batch.model_version, output=output, batch_id=batch.pk, caller_id=batch.created_by_id
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "predictions.csv"
            with open(path, "w", newline="", encoding="utf-8") as handle:
                frame_to_safe_csv(output, handle)
            with open(path, "rb") as handle:
                name = batch.result_file.storage.save(
                    f"batch_predictions/{batch.pk}/predictions-{batch.pk}.csv", File(handle)
                )
    except SoftTimeLimitExceeded:
        logger.warning("Batch prediction %s hit its time limit", batch_id)
        return _batch_prediction_end(batch_id=batch_id, succeeded=False, error=_time_limit_message())
    except Exception as exc:
        logger.exception("Batch prediction %s failed", batch_id)
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        return _batch_prediction_end(batch_id=batch_id, succeeded=False, error=message[:5000])
    batch = _batch_prediction_end(batch_id=batch_id, succeeded=True, result_file=name, n_rows=len(output))
    logger.info("Batch prediction %s wrote %s rows to %s", batch_id, len(output), name)
    return batch


@transaction.atomic
def _batch_prediction_end(*, batch_id: int, succeeded: bool, **fields) -> BatchPrediction:
    """End a running batch as succeeded or failed with ``fields`` (result file, row count or error)."""
    batch = BatchPrediction.objects.select_for_update().get(pk=batch_id)
    if batch.status != BatchStatus.RUNNING:
        return batch
    for field, value in fields.items():
        setattr(batch, field, value)
    batch.finished_at = timezone.now()
    if succeeded:
        work_transition(batch, batch.succeed, message=f"Wrote {batch.n_rows} rows.")
    else:
        work_transition(batch, batch.fail, message=batch.error)
    return batch


def _time_limit_message() -> str:
    return (
        f"The batch ran past its time limit of {settings.BATCH_PREDICTION_TIME_LIMIT} s "
        "(BATCH_PREDICTION_TIME_LIMIT) and was stopped; split the dataset into smaller ones and try again."
    )


def batch_predictions_reap_stale(*, now=None) -> list[int]:
    """Fail running batches started longer ago than their hard time limit (plus a grace period): their
    worker was killed by that limit, or lost without the broker delivering the task again, so no worker
    will ever end them. Run periodically by celery beat; answers the ids it failed."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.BATCH_PREDICTION_TIME_LIMIT + settings.BATCH_PREDICTION_REAP_GRACE)
    failed = []
    stale = BatchPrediction.objects.filter(status=BatchStatus.RUNNING, started_at__lt=cutoff)
    for batch_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            batch = (
                BatchPrediction.objects.select_for_update(skip_locked=True)
                .filter(pk=batch_id, status=BatchStatus.RUNNING, started_at__lt=cutoff)
                .first()
            )
            if batch is None:
                continue
            batch.error = _time_limit_message()
            batch.finished_at = now
            work_transition(batch, batch.fail, message=batch.error)
            failed.append(batch.pk)
    if failed:
        logger.warning("Failed batch predictions %s: they ran past their time limit", failed)
    return failed
