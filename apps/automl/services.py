"""Writes and business rules of AutoML training jobs. Every state change of a job happens here, under
``select_for_update``, and writes a ``TrainingJobEvent``."""

from __future__ import annotations

import logging
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import has_transition_perm

from apps.automl.choices import JobStatus, TaskType, TrackingStatus
from apps.automl.models import ACTIVE_STATES, TrainingJob
from apps.automl.signals import training_job_succeeded, training_job_tracked
from apps.automl.training import JobAbandoned, JobCancelled, JobRun, TrainingFailed, WarmRunner
from apps.automl.validation import (
    TargetSummary,
    dtype_is_numeric,
    metric_problem,
    resolve_task_type,
    target_problem,
)
from apps.core.exceptions import Conflict, PermissionDenied, ServiceUnavailable, ValidationError
from apps.core.work import work_created, work_transition
from apps.projects.choices import ProjectRole
from apps.projects.models import Dataset
from apps.projects.permissions import check_project_access
from apps.projects.selectors import dataset_dataframe

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger("maestro.automl")


# ---------------------------------------------------------------------------
# Creating, queuing and cancelling
# ---------------------------------------------------------------------------
def _target_summary(*, dataset: Dataset, target: str) -> TargetSummary:
    """What the dataset's stored profile says about ``target``; the column is read only if the profile lacks it."""
    columns = {str(column.get("name")): column for column in (dataset.columns or []) if isinstance(column, dict)}
    if columns and target not in columns:
        names = ", ".join(list(columns)[:30])
        raise ValidationError(
            f"Column '{target}' is not in dataset '{dataset.name}'; its columns are: {names}.", field="target"
        )
    meta = columns.get(target, {})
    if meta.get("dtype") and meta.get("n_unique") is not None and meta.get("n_missing") is not None:
        return TargetSummary(
            column=target,
            is_numeric=dtype_is_numeric(meta["dtype"]),
            n_unique=int(meta["n_unique"]),
            n_present=int(dataset.n_rows) - int(meta["n_missing"]),
        )
    try:
        frame = dataset_dataframe(dataset=dataset)
    except FileNotFoundError as exc:
        raise Conflict(f"{exc} Upload the data again.") from exc
    if target not in frame.columns:
        names = ", ".join(map(str, frame.columns[:30]))
        raise ValidationError(
            f"Column '{target}' is not in dataset '{dataset.name}'; its columns are: {names}.", field="target"
        )
    return TargetSummary.of_series(frame[target])


def _check_time_budget(time_budget) -> int:
    if isinstance(time_budget, bool) or not isinstance(time_budget, int):
        raise ValidationError("The time budget is a whole number of seconds.", field="time_budget")
    low, high = settings.AUTOML_MIN_TIME_BUDGET, settings.AUTOML_MAX_TIME_BUDGET
    if not low <= time_budget <= high:
        raise ValidationError(
            f"The time budget must be between {low} and {high} seconds; {time_budget} was asked for.",
            field="time_budget",
        )
    return time_budget


@transaction.atomic
def training_job_create(
    *,
    user: User,
    dataset: Dataset,
    target: str,
    time_budget: int,
    task_type: str = TaskType.AUTO,
    metric: str = "",
    presets: str = "",
    registered_model_name: str = "",
    hyperparameters: dict | None = None,
) -> TrainingJob:
    """Check the request against the dataset, save the job as ``queued`` and send it to the training queue.

    ``hyperparameters`` (AutoGluon model families) defaults to ``settings.AUTOML_HYPERPARAMETERS``; it is
    recorded on the job so whichever worker runs it trains exactly that.
    """
    project = dataset.project
    check_project_access(user=user, project=project, minimum=ProjectRole.EDITOR, capability="automl:run")
    if project.is_archived:
        raise Conflict(f"Project '{project.name}' is archived and takes no new jobs; restore it first.")
    target = (target or "").strip()
    if not target:
        raise ValidationError("Name the target column to predict.", field="target")
    if task_type not in TaskType.values:
        raise ValidationError(
            f"'{task_type}' is not a task type; use one of {', '.join(TaskType.values)}.", field="task_type"
        )
    time_budget = _check_time_budget(time_budget)
    presets = (presets or settings.AUTOML_DEFAULT_PRESETS).strip()
    if presets not in settings.AUTOML_ALLOWED_PRESETS:
        raise ValidationError(
            f"'{presets}' is not an allowed preset; use one of {', '.join(settings.AUTOML_ALLOWED_PRESETS)}.",
            field="presets",
        )
    metric = (metric or "").strip()
    registered_model_name = (registered_model_name or "").strip()
    if len(registered_model_name) > 200:
        raise ValidationError("A registered model name has at most 200 characters.", field="registered_model_name")
    hyperparameters = settings.AUTOML_HYPERPARAMETERS if hyperparameters is None else hyperparameters
    if not isinstance(hyperparameters, dict):
        raise ValidationError("Hyperparameters are a mapping of model family to settings.", field="hyperparameters")

    if dataset.n_columns is not None and dataset.n_columns < 2:
        raise ValidationError(
            f"Dataset '{dataset.name}' has no column besides the target to learn from.", field="dataset_id"
        )
    summary = _target_summary(dataset=dataset, target=target)
    problem = target_problem(summary, task_type=task_type, min_rows=settings.AUTOML_MIN_ROWS)
    if problem:
        raise ValidationError(problem, field="target")
    resolved = resolve_task_type(summary, task_type=task_type, metric=metric)
    problem = metric_problem(metric, task_type=resolved)
    if problem:
        raise ValidationError(problem, field="metric")

    job = TrainingJob(
        project=project,
        dataset=dataset,
        created_by=user,
        target=target,
        task_type=task_type,
        problem_type="" if resolved == TaskType.AUTO else resolved,
        time_budget=time_budget,
        metric=metric,
        presets=presets,
        registered_model_name=registered_model_name,
        test_size=settings.AUTOML_TEST_SIZE,
        random_seed=settings.AUTOML_RANDOM_SEED,
        hyperparameters=hyperparameters or {},
        dataset_sha256=dataset.sha256,
        celery_task_id=str(uuid.uuid4()),
    )
    job.full_clean(exclude=["status"])  # the state machine owns status
    job.save()
    work_created(
        job,
        by=user,
        message=f"Queued: predict '{target}' ({task_type}) within {time_budget} s, presets {presets}.",
    )
    transaction.on_commit(partial(_training_job_send_new, job_id=job.pk))
    return job


def _training_job_send_new(*, job_id: int) -> None:
    """Send a just-created job to the training queue; if the broker cannot be reached, remove the job again
    (it never started, nothing refers to it yet) and answer 503, so a broker outage leaves no row behind."""
    try:
        training_job_enqueue(job_id=job_id, fail_on_error=False)
    except ServiceUnavailable:
        TrainingJob.objects.filter(pk=job_id, status=JobStatus.QUEUED, attempts=0).delete()
        raise


def training_job_enqueue(*, job_id: int, fail_on_error: bool = True) -> None:
    """Send a queued job to the ``training`` queue with time limits derived from its budget."""
    from apps.automl.tasks import run_training_job

    job = TrainingJob.objects.get(pk=job_id)
    soft_limit = job.time_budget + settings.AUTOML_TIME_LIMIT_MARGIN
    try:
        run_training_job.apply_async(
            args=[job.pk], task_id=job.celery_task_id or None, soft_time_limit=soft_limit, time_limit=soft_limit + 120
        )
    except Exception as exc:  # noqa: BLE001 - any broker failure means the job will never run
        logger.exception("could not queue training job %s", job_id)
        if fail_on_error:
            training_job_fail(
                job_id=job_id, message="The training queue could not be reached, so the job never started."
            )
        raise ServiceUnavailable(
            "The training queue is unavailable, so the job was not started (nothing was saved). Try again in a "
            "few minutes; if it keeps happening, ask an administrator to check the broker."
        ) from exc


@transaction.atomic
def training_job_cancel(*, job: TrainingJob, user: User) -> TrainingJob:
    """Cancel a job: at once if still queued, else flag it; its worker stops the fit within seconds."""
    check_project_access(user=user, project=job.project, minimum=ProjectRole.EDITOR, capability="automl:cancel")
    job = TrainingJob.objects.select_for_update().get(pk=job.pk)
    if job.status not in ACTIVE_STATES:
        raise Conflict(f"The job already ended ({job.status}); there is nothing to cancel.")
    if not has_transition_perm(job.cancel, user):  # the transition's declared rule, the same as above
        raise PermissionDenied("You may not cancel this job.")
    now = timezone.now()
    if job.status == JobStatus.QUEUED:
        job.cancel_requested_at, job.cancel_requested_by, job.finished_at = now, user, now
        work_transition(job, job.cancel, by=user, message="Cancelled before a worker started it.")
    elif job.cancel_requested_at is None:
        job.cancel_requested_at, job.cancel_requested_by = now, user
        job.save(update_fields=["cancel_requested_at", "cancel_requested_by", "updated_at"])
    return job


# ---------------------------------------------------------------------------
# Running (called by the Celery task on a training worker)
# ---------------------------------------------------------------------------
@transaction.atomic
def training_job_start(*, job_id: int, worker: str = "") -> TrainingJob | None:
    """Move a queued job to ``running`` for this worker; None when it is not queued (already taken or ended)."""
    job = TrainingJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.status != JobStatus.QUEUED:
        return None
    now = timezone.now()
    job.started_at = job.heartbeat_at = now
    job.worker = worker[:255]
    job.progress = 0.0
    job.error = ""
    work_transition(job, job.start, message=f"Started on {worker or 'a worker'}.")
    return job


def training_job_run(*, job_id: int, worker: str = "") -> str:
    """Run a queued job to its end (succeeded, failed or cancelled). Safe to call twice for the same job."""
    job = training_job_start(job_id=job_id, worker=worker)
    if job is None:
        return "skipped"
    work_dir = Path(settings.AUTOML_WORK_DIR) / f"job-{job.pk}-{uuid.uuid4().hex[:8]}"
    run = JobRun(job=job, work_dir=work_dir)
    try:
        outcome = run.execute()
        _training_job_succeed(job_id=job.pk, outcome=outcome)
        return JobStatus.SUCCEEDED
    except JobAbandoned:
        run.discard()
        logger.warning("job %s is no longer running on this worker; its run was dropped", job.pk)
        return "abandoned"
    except JobCancelled:
        run.discard(mlflow_status="KILLED")
        _training_job_end_cancelled(job_id=job.pk, attempt=job.attempts)
        return JobStatus.CANCELLED
    except TrainingFailed as exc:
        run.discard()
        training_job_fail(job_id=job.pk, message=exc.message, attempt=job.attempts)
        return JobStatus.FAILED
    except SoftTimeLimitExceeded:
        run.discard()
        training_job_fail(
            job_id=job.pk,
            message=f"The job hit its time limit ({job.time_budget} s budget plus "
            f"{settings.AUTOML_TIME_LIMIT_MARGIN} s margin) and was stopped; try a smaller budget.",
            attempt=job.attempts,
        )
        return JobStatus.FAILED
    except Exception as exc:
        logger.exception("training job %s failed", job.pk)
        run.discard()
        training_job_fail(
            job_id=job.pk,
            message=f"Training stopped on an unexpected error ({type(exc).__name__}: {exc}). "
            "Try again; if it happens again, report this message to your administrator.",
            attempt=job.attempts,
        )
        return JobStatus.FAILED
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        WarmRunner.replenish()


@transaction.atomic
def _training_job_succeed(*, job_id: int, outcome) -> TrainingJob:
    job = TrainingJob.objects.select_for_update().get(pk=job_id)
    if job.status != JobStatus.RUNNING or (outcome.attempt is not None and job.attempts != outcome.attempt):
        raise JobAbandoned(job_id)  # another attempt runs the job now: its results are not this one's
    if job.cancel_requested_at is not None:
        raise JobCancelled(job_id)
    result = outcome.result
    best = next((row for row in result["leaderboard"] if row["model"] == result["best_model"]), {})
    job.problem_type = result["problem_type"]
    job.eval_metric = result["eval_metric"]
    job.best_model = result["best_model"]
    job.leaderboard = result["leaderboard"]
    job.metrics = result["metrics"]
    job.evaluation = result.get("evaluation") or {}
    job.features = result["features"]
    job.class_labels = result["class_labels"]
    job.split = outcome.split
    job.timings = outcome.timings
    job.mlflow_run_id = outcome.mlflow_run_id
    job.mlflow_sync_status = TrackingStatus.SYNCED if outcome.mlflow_synced else TrackingStatus.PENDING
    job.artifact = outcome.artifact_name
    job.artifact_sha256 = outcome.artifact_sha256
    job.artifact_size = outcome.artifact_size
    job.current_best = {"model": result["best_model"], "score": best.get("score_val"), "metric": job.eval_metric}
    job.progress = 1.0
    job.finished_at = job.heartbeat_at = timezone.now()
    score = best.get("score_test")
    work_transition(
        job,
        job.succeed,
        message=f"Best model {job.best_model}: {job.eval_metric} {score:.4g} on the test split."
        if isinstance(score, float)
        else f"Best model {job.best_model}.",
    )
    transaction.on_commit(partial(_announce_success, job_id=job.pk))
    if not outcome.mlflow_synced:
        transaction.on_commit(partial(_queue_mlflow_sync, job_id=job.pk))
    return job


def _queue_mlflow_sync(*, job_id: int) -> None:
    from apps.automl.tasks import sync_training_job_to_mlflow

    try:
        sync_training_job_to_mlflow.delay(job_id)
    except Exception:  # noqa: BLE001 - the periodic sweep queues it again
        logger.exception("Could not queue the MLflow sync of job %s; the sweep will", job_id)


def training_job_mlflow_sync(*, job_id: int) -> TrainingJob | None:
    """Log a succeeded job's MLflow run that could not be logged while it trained (MLflow was unreachable):
    the request as parameters, its results, leaderboard and one child run per model, as a job that reached
    MLflow at once would have. Raises when MLflow is still unreachable (the task retries); idempotent: the
    run is found again by its ``maestro.job_id`` tag rather than logged twice."""
    from apps.automl import tracking

    job = TrainingJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None or job.status != JobStatus.SUCCEEDED or job.mlflow_sync_status != TrackingStatus.PENDING:
        return job
    run_id = job.mlflow_run_id or tracking.job_run_find(job=job) or tracking.job_run_start(job=job)
    result = {
        "leaderboard": job.leaderboard,
        "best_model": job.best_model,
        "problem_type": job.problem_type,
        "eval_metric": job.eval_metric,
        "metrics": job.metrics,
        "fit_seconds": (job.timings or {}).get("fit"),
    }
    tracking.job_run_finish(job=job, run_id=run_id, result=result, split=job.split or {})
    updated = TrainingJob.objects.filter(pk=job.pk, mlflow_sync_status=TrackingStatus.PENDING).update(
        mlflow_run_id=run_id, mlflow_sync_status=TrackingStatus.SYNCED, updated_at=timezone.now()
    )
    if updated:
        logger.info("MLflow run %s of job %s logged after MLflow came back", run_id, job.pk)
        for receiver, response in training_job_tracked.send_robust(sender=TrainingJob, job_id=job.pk, run_id=run_id):
            if isinstance(response, Exception):
                logger.error("training_job_tracked receiver %r failed for job %s", receiver, job.pk, exc_info=response)
    job.refresh_from_db()
    return job


def training_jobs_mlflow_outstanding() -> list[int]:
    """Succeeded jobs whose MLflow run still waits to be logged (the sweep queues them again)."""
    return list(
        TrainingJob.objects.filter(status=JobStatus.SUCCEEDED, mlflow_sync_status=TrackingStatus.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )


def _announce_success(*, job_id: int) -> None:
    """Tell the apps above (the registry) that a job succeeded; their errors never undo the job."""
    for receiver, response in training_job_succeeded.send_robust(sender=TrainingJob, job_id=job_id):
        if isinstance(response, Exception):
            logger.error("training_job_succeeded receiver %r failed for job %s", receiver, job_id, exc_info=response)


@transaction.atomic
def _training_job_end_cancelled(*, job_id: int, attempt: int | None = None) -> TrainingJob | None:
    job = TrainingJob.objects.select_for_update().get(pk=job_id)
    if job.status not in ACTIVE_STATES or (attempt is not None and job.attempts != attempt):
        return None
    job.finished_at = timezone.now()
    work_transition(
        job,
        job.cancel,
        by=job.cancel_requested_by,
        message="Cancelled while running; the fit was stopped and nothing it produced was kept.",
    )
    return job


def training_job_fail(*, job_id: int, message: str, attempt: int | None = None) -> TrainingJob | None:
    """End an active job as ``failed`` with ``message`` (what went wrong, what to do); None if it already ended,
    or if ``attempt`` (the worker's) is no longer the job's: a superseded attempt never fails the one running."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().get(pk=job_id)
        if job.status not in ACTIVE_STATES or (attempt is not None and job.attempts != attempt):
            if job.status in ACTIVE_STATES:
                logger.warning("attempt %s of job %s ended, but attempt %s runs it now", attempt, job_id, job.attempts)
            return None
        job.error = message
        job.finished_at = timezone.now()
        work_transition(job, job.fail, message=message)
    if job.mlflow_run_id:
        _end_mlflow_run(job.mlflow_run_id, "FAILED")
    return job


def _end_mlflow_run(run_id: str, status: str) -> None:
    from apps.automl import tracking

    try:
        tracking.job_run_end(run_id=run_id, status=status)
    except Exception:  # noqa: BLE001 - closing a tracking run is best effort once the job has ended
        logger.warning("could not mark MLflow run %s as %s", run_id, status, exc_info=True)


# ---------------------------------------------------------------------------
# Lost workers
# ---------------------------------------------------------------------------
def training_jobs_reap_stale(*, now=None) -> dict[str, list[int]]:
    """Requeue (up to AUTOML_MAX_REQUEUES times) or fail running jobs whose worker stopped sending heartbeats."""
    now = now or timezone.now()
    timeout = settings.AUTOML_HEARTBEAT_TIMEOUT
    cutoff = now - timedelta(seconds=timeout)
    outcome: dict[str, list[int]] = {"requeued": [], "failed": [], "cancelled": []}
    candidates = TrainingJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)
    for job_id in candidates.values_list("pk", flat=True):
        stale_run_id = ""
        with transaction.atomic():
            job = (
                TrainingJob.objects.select_for_update(skip_locked=True)
                .filter(pk=job_id, status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)
                .first()
            )
            if job is None:
                continue
            stale_run_id = job.mlflow_run_id
            lost = f"The worker running this job ({job.worker or 'unknown'}) stopped responding for over {timeout} s"
            if job.cancel_requested_at is not None:
                job.finished_at = now
                work_transition(
                    job, job.cancel, by=job.cancel_requested_by, message=f"{lost}; the job was cancelled as asked."
                )
                outcome["cancelled"].append(job.pk)
            elif job.requeue_count < settings.AUTOML_MAX_REQUEUES:
                job.requeue_count += 1
                job.progress, job.current_best, job.heartbeat_at = 0.0, {}, None
                job.mlflow_run_id, job.celery_task_id = "", str(uuid.uuid4())
                work_transition(job, job.requeue, message=f"{lost}; queued again (retry {job.requeue_count}).")
                transaction.on_commit(partial(training_job_enqueue, job_id=job.pk))
                outcome["requeued"].append(job.pk)
            else:
                job.error = (
                    f"{lost}, probably because it was restarted or ran out of memory. Start the job again; "
                    "if it keeps happening, use a smaller time budget or dataset."
                )
                job.finished_at = now
                work_transition(job, job.fail, message=job.error)
                outcome["failed"].append(job.pk)
        if stale_run_id:
            _end_mlflow_run(stale_run_id, "FAILED")
    _remove_orphan_work_dirs(older_than=cutoff)
    return outcome


def _remove_orphan_work_dirs(*, older_than) -> None:
    """Remove job folders on this host left by killed workers (their job is no longer running)."""
    root = Path(settings.AUTOML_WORK_DIR)
    if not root.is_dir():
        return
    running = set(TrainingJob.objects.filter(status=JobStatus.RUNNING).values_list("pk", flat=True))
    for folder in root.glob("job-*-*"):
        try:
            job_id = int(folder.name.split("-")[1])
            changed = datetime.fromtimestamp(folder.stat().st_mtime, tz=UTC)
        except (ValueError, IndexError, OSError):
            continue
        if job_id not in running and changed < older_than:
            shutil.rmtree(folder, ignore_errors=True)
