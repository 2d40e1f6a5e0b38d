"""Reads of the model registry, always narrowed to what the requesting user may see."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Prefetch, Q, QuerySet

from apps.projects.permissions import scope_to_visible_projects
from apps.registry.cards import dataset_summary
from apps.registry.choices import DeploymentAction
from apps.registry.hooks import approval_for
from apps.registry.models import Deployment, ModelVersion, RegisteredModel

if TYPE_CHECKING:
    from apps.accounts.models import User


# Columns of a version that lists (API and pages) never show: the card, the leaderboard and the feature list
# can each be large, and a list holds every version of every model.
VERSION_LIST_DEFERRED = (
    "card",
    "leaderboard",
    "evaluation",
    "features",
    "class_labels",
    "intended_use",
    "limitations",
)


def version_summaries() -> QuerySet[ModelVersion]:
    """Model versions as lists show them (``ModelVersionSummarySerializer``, the pages): heavy columns deferred."""
    return ModelVersion.objects.defer(*VERSION_LIST_DEFERRED).order_by("-version")


def registered_models_visible_to(*, user: User, project_id: int | None = None) -> QuerySet[RegisteredModel]:
    """Registered models of the projects ``user`` may see (optionally of one project), with their author and
    their versions' summaries: a constant number of queries, whatever the number of models and versions."""
    queryset = (
        RegisteredModel.objects.select_related("project", "production_version", "created_by")
        .defer(*(f"production_version__{field}" for field in VERSION_LIST_DEFERRED))
        .prefetch_related(Prefetch("versions", queryset=version_summaries()))
    )
    if project_id is not None:
        queryset = queryset.filter(project_id=project_id)
    return scope_to_visible_projects(queryset, user=user)


def model_versions_visible_to(*, user: User) -> QuerySet[ModelVersion]:
    """Model versions of the projects ``user`` may see."""
    queryset = ModelVersion.objects.select_related(
        "registered_model", "registered_model__project", "dataset", "job", "created_by"
    )
    return scope_to_visible_projects(queryset, user=user, project_field="registered_model__project")


def production_history(*, registered_model: RegisteredModel) -> list[int]:
    """The stack of production version ids: a deploy pushes, a rollback pops. Its top is in production."""
    stack: list[int] = []
    for action, version_id in registered_model.deployments.order_by("created_at", "id").values_list(
        "action", "model_version_id"
    ):
        if action == DeploymentAction.ROLLBACK:
            if stack:
                stack.pop()
            if not stack or stack[-1] != version_id:  # history began before this log: keep it consistent
                stack.append(version_id)
        else:
            stack.append(version_id)
    return stack


def rollback_target(*, registered_model: RegisteredModel) -> ModelVersion | None:
    """The version a rollback would put back in production: the one before the current production version."""
    stack = production_history(registered_model=registered_model)
    if len(stack) < 2 or stack[-1] != registered_model.production_version_id:
        return None
    return ModelVersion.objects.filter(pk=stack[-2]).first()


def deployment_data(deployment: Deployment) -> dict[str, Any]:
    return {
        "id": deployment.pk,
        "action": deployment.action,
        "registered_model_id": deployment.registered_model_id,
        "model_version_id": deployment.model_version_id,
        "version": deployment.model_version.version,
        "previous_version_id": deployment.previous_version_id,
        "previous_version": deployment.previous_version.version if deployment.previous_version else None,
        "deployed_by": deployment.deployed_by.username,
        "deployed_at": deployment.created_at,
        "comment": deployment.comment,
    }


def model_version_deployments(*, version: ModelVersion) -> list[dict[str, Any]]:
    """Every production change that put ``version`` in, or took it out of, production."""
    rows = Deployment.objects.filter(Q(model_version=version) | Q(previous_version=version)).select_related(
        "model_version", "previous_version", "deployed_by"
    )
    return [deployment_data(deployment) for deployment in rows.order_by("-created_at", "-id")]


def training_job_data(job) -> dict[str, Any] | None:
    """The request and the timings of the AutoML job that produced a version."""
    if job is None:
        return None
    queued = (job.started_at - job.created_at).total_seconds() if job.started_at and job.created_at else None
    ran = (job.finished_at - job.started_at).total_seconds() if job.finished_at and job.started_at else None
    fit_total = sum(float(row.get("fit_time") or 0) for row in job.leaderboard or [])
    return {
        "id": job.pk,
        "status": job.status,
        "created_by": job.created_by.username if job.created_by_id else None,
        "request": {
            "dataset_id": job.dataset_id,
            "target": job.target,
            "task_type": job.task_type,
            "time_budget": job.time_budget,
            "metric": job.metric,
            "presets": job.presets,
            "registered_model_name": job.registered_model_name,
            "test_size": job.test_size,
            "random_seed": job.random_seed,
            "hyperparameters": job.hyperparameters,
        },
        "dataset_sha256": job.dataset_sha256 or None,
        "split": job.split,
        "problem_type": job.problem_type,
        "eval_metric": job.eval_metric,
        "best_model": job.best_model,
        "timings": {
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "queued_seconds": queued,
            "run_seconds": ran,
            "models_fit_seconds": round(fit_total, 3),
            "steps": job.timings,
        },
    }


def model_version_lineage(*, version: ModelVersion) -> dict[str, Any]:
    """dataset → job → MLflow run → version, with its approvals and deployments."""
    approval = approval_for(version)
    return {
        "model_version_id": version.pk,
        "registered_model_id": version.registered_model_id,
        "version": version.version,
        "dataset": dataset_summary(version.dataset),
        "job": training_job_data(version.job),
        "mlflow_run_id": version.mlflow_run_id or None,
        "mlflow": {
            "registered_model": version.registered_model.mlflow_name or None,
            "version": version.mlflow_version or None,
            "sync_status": version.mlflow_sync_status,
            "sync_error": version.mlflow_sync_error,
        },
        "artifact": {"sha256": version.artifact_sha256, "size_bytes": version.artifact_size},
        "approval_state": approval.state,
        "approvals": list(approval.history),
        "deployments": model_version_deployments(version=version),
    }
