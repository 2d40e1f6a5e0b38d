"""Reads of training jobs beyond one ORM line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import OuterRef, QuerySet, Subquery

from apps.automl.models import TrainingJob
from apps.projects.permissions import scope_to_visible_projects

if TYPE_CHECKING:
    from apps.accounts.models import User


def _first_model_version_ids() -> Subquery:
    """The id of the first model version registered from each job (the registry's reverse relation)."""
    version_model = TrainingJob._meta.get_field("model_versions").related_model
    first = version_model.objects.filter(job=OuterRef("pk")).order_by("pk").values("pk")[:1]
    return Subquery(first)


def with_model_version_ids(queryset: QuerySet[TrainingJob]) -> QuerySet[TrainingJob]:
    """``queryset`` with related rows joined and each job's ``model_version_id`` annotated."""
    return queryset.select_related("project", "dataset", "created_by").annotate(
        model_version_id=_first_model_version_ids()
    )


def training_jobs_visible_to(*, user: User) -> QuerySet[TrainingJob]:
    """Jobs of every project ``user`` may see, with ``model_version_id`` annotated."""
    return scope_to_visible_projects(with_model_version_ids(TrainingJob.objects.all()), user=user)


def training_job_model_version_id(*, job: TrainingJob) -> int | None:
    """The first model version registered from ``job``, or None."""
    if hasattr(job, "model_version_id"):
        return job.model_version_id
    return job.model_versions.order_by("pk").values_list("pk", flat=True).first()


def training_job_results(*, job: TrainingJob) -> dict:
    """The results of a succeeded job as the API shows them."""
    return {
        "id": job.pk,
        "status": job.status,
        "problem_type": job.problem_type,
        "eval_metric": job.eval_metric,
        "best_model": job.best_model,
        "leaderboard": job.leaderboard,
        "metrics": job.metrics,
        "features": job.features,
        "class_labels": job.class_labels,
        "split": job.split,
        "mlflow_run_id": job.mlflow_run_id,
        "artifact_sha256": job.artifact_sha256,
        "artifact_size": job.artifact_size,
        "model_version_id": training_job_model_version_id(job=job),
    }
