from django.contrib import admin, messages

from apps.automl.models import TrainingJob, TrainingJobEvent
from apps.core.admin import WorkEventInline
from apps.core.exceptions import DomainError


@admin.action(description="Cancel the selected jobs (queued ones at once, running ones within seconds)")
def cancel_jobs(modeladmin, request, queryset):
    """Through ``training_job_cancel``, like the API and the pages: the operator needs the right to cancel."""
    from apps.automl.services import training_job_cancel

    done = 0
    for job in queryset.select_related("project"):
        try:
            training_job_cancel(job=job, user=request.user)
        except DomainError as exc:
            messages.error(request, f"Job {job.pk}: {exc.message}")
        else:
            done += 1
    if done:
        messages.success(request, f"Cancel requested for {done} job(s).")


class TrainingJobEventInline(WorkEventInline):
    model = TrainingJobEvent


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    """Operators follow jobs here; results and state are read-only (state changes go through services)."""

    list_display = ["id", "project", "dataset", "target", "task_type", "status", "progress", "best_model",
                    "created_by", "created_at", "finished_at"]  # fmt: skip
    list_filter = ["status", "task_type", "presets", "project"]
    search_fields = ["target", "best_model", "mlflow_run_id", "project__name", "dataset__name", "created_by__username"]
    date_hierarchy = "created_at"
    list_select_related = ["project", "dataset", "created_by"]
    inlines = [TrainingJobEventInline]
    actions = [cancel_jobs]
    fieldsets = [
        ("Request", {"fields": ["project", "dataset", "dataset_sha256", "created_by", "target", "task_type",
                                "problem_type", "time_budget", "metric", "presets", "hyperparameters",
                                "registered_model_name", "test_size", "random_seed"]}),
        ("Progress", {"fields": ["status", "progress", "current_best", "error", "worker", "celery_task_id",
                                 "created_at", "started_at", "heartbeat_at", "finished_at", "cancel_requested_at",
                                 "cancel_requested_by", "requeue_count"]}),
        ("Results", {"fields": ["best_model", "eval_metric", "metrics", "evaluation", "leaderboard", "features",
                                "class_labels", "split", "timings", "mlflow_run_id", "artifact", "artifact_sha256",
                                "artifact_size"]}),
    ]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in TrainingJob._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
