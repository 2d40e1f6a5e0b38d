import json

from django.contrib import admin, messages
from django.utils.html import format_html

from apps.registry.models import BatchPrediction, Deployment, ModelVersion, RegisteredModel
from apps.registry.selectors import model_version_lineage


def _pretty(data) -> str:
    return format_html("<pre>{}</pre>", json.dumps(data, indent=2, default=str, ensure_ascii=False))


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ModelVersionInline(ReadOnlyInline):
    model = ModelVersion
    fk_name = "registered_model"
    fields = [
        "version",
        "status",
        "task_type",
        "eval_metric",
        "artifact_sha256",
        "mlflow_version",
        "mlflow_sync_status",
    ]
    readonly_fields = fields
    ordering = ["-version"]


class DeploymentInline(ReadOnlyInline):
    model = Deployment
    fk_name = "registered_model"
    fields = ["created_at", "action", "model_version", "previous_version", "deployed_by", "comment"]
    readonly_fields = fields
    show_change_link = False


@admin.action(description="Sync with the MLflow model registry now")
def sync_with_mlflow(modeladmin, request, queryset):
    from apps.registry.tasks import sync_registered_model_to_mlflow

    ids = list(queryset.values_list("registered_model_id" if queryset.model is ModelVersion else "pk", flat=True))
    for registered_model_id in set(ids):
        sync_registered_model_to_mlflow.delay(registered_model_id)
    messages.info(request, f"Queued the MLflow sync of {len(set(ids))} registered model(s).")


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "production_version", "mlflow_sync_status", "created_at"]
    list_filter = ["mlflow_sync_status", "project"]
    search_fields = ["name", "project__name", "mlflow_name"]
    readonly_fields = [
        "project",
        "production_version",
        "created_by",
        "mlflow_name",
        "mlflow_sync_status",
        "mlflow_sync_error",
        "mlflow_synced_at",
        "created_at",
        "updated_at",
    ]
    fields = ["name", "description", "tags", *readonly_fields]
    inlines = [ModelVersionInline, DeploymentInline]
    actions = [sync_with_mlflow]

    def has_add_permission(self, request) -> bool:
        return False  # registered models come from training jobs

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "task_type", "mlflow_sync_status", "mlflow_sync_attempts", "created_at"]
    list_filter = ["status", "mlflow_sync_status", "task_type"]
    search_fields = ["registered_model__name", "artifact_sha256", "mlflow_run_id", "target"]
    list_select_related = ["registered_model"]
    actions = [sync_with_mlflow]
    readonly_fields = [
        "registered_model",
        "version",
        "status",
        "task_type",
        "target",
        "class_labels",
        "eval_metric",
        "best_model",
        "metrics_display",
        "features_display",
        "artifact",
        "artifact_sha256",
        "artifact_size",
        "job",
        "dataset",
        "mlflow_run_id",
        "mlflow_version",
        "mlflow_sync_status",
        "mlflow_sync_error",
        "mlflow_sync_attempts",
        "mlflow_synced_at",
        "card_generated_at",
        "lineage_display",
        "created_by",
        "created_at",
    ]
    fieldsets = [
        (None, {"fields": ["registered_model", "version", "status", "task_type", "target", "class_labels"]}),
        ("Card (editable)", {"fields": ["intended_use", "limitations"]}),
        ("Scores", {"fields": ["eval_metric", "best_model", "metrics_display", "features_display"]}),
        ("Artifact", {"fields": ["artifact", "artifact_sha256", "artifact_size"]}),
        (
            "MLflow",
            {
                "fields": [
                    "mlflow_run_id",
                    "mlflow_version",
                    "mlflow_sync_status",
                    "mlflow_sync_error",
                    "mlflow_sync_attempts",
                    "mlflow_synced_at",
                ]
            },
        ),
        ("Lineage", {"fields": ["job", "dataset", "lineage_display", "card_generated_at", "created_by", "created_at"]}),
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deletion goes through the API, which refuses deployed versions

    @admin.display(description="Metrics")
    def metrics_display(self, obj):
        return _pretty(obj.metrics)

    @admin.display(description="Features")
    def features_display(self, obj):
        return _pretty(obj.features)

    @admin.display(description="Lineage")
    def lineage_display(self, obj):
        return _pretty(model_version_lineage(version=obj))

    def save_model(self, request, obj, form, change):
        from apps.registry.services import model_card_refresh

        super().save_model(request, obj, form, change)
        model_card_refresh(version=obj)


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ["created_at", "registered_model", "action", "model_version", "previous_version", "deployed_by"]
    list_filter = ["action"]
    search_fields = ["registered_model__name", "deployed_by__username"]
    list_select_related = ["registered_model", "model_version__registered_model", "deployed_by"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BatchPrediction)
class BatchPredictionAdmin(admin.ModelAdmin):
    list_display = ["pk", "model_version", "dataset", "status", "n_rows", "created_by", "created_at"]
    list_filter = ["status"]
    readonly_fields = [
        "model_version",
        "dataset",
        "status",
        "result_file",
        "n_rows",
        "error",
        "celery_task_id",
        "started_at",
        "finished_at",
        "created_by",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
