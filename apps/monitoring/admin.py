from django.contrib import admin

from apps.monitoring.models import DriftReport, ModelMonitor, PredictionRecord, ReferenceProfile


@admin.register(ModelMonitor)
class ModelMonitorAdmin(admin.ModelAdmin):
    list_display = ["registered_model", "enabled", "sample_rate", "retention_days", "window_hours", "drift_share"]
    list_filter = ["enabled"]
    search_fields = ["registered_model__name"]
    raw_id_fields = ["registered_model"]
    readonly_fields = ["last_scheduled_at", "created_at", "updated_at"]


@admin.register(PredictionRecord)
class PredictionRecordAdmin(admin.ModelAdmin):
    """The log is written by serving: read-only here."""

    list_display = ["public_id", "registered_model", "model_version", "source", "created_at", "prediction", "actual"]
    list_filter = ["source"]
    search_fields = ["public_id", "registered_model__name"]
    date_hierarchy = "created_at"
    list_select_related = ["registered_model", "model_version", "model_version__registered_model"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReferenceProfile)
class ReferenceProfileAdmin(admin.ModelAdmin):
    """Frozen once made: read-only."""

    list_display = ["model_version", "status", "n_rows", "n_heldout", "metric", "metric_value", "created_at"]
    list_filter = ["status"]
    list_select_related = ["model_version", "model_version__registered_model"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DriftReport)
class DriftReportAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "registered_model",
        "model_version",
        "trigger",
        "n_current",
        "n_drifted",
        "flagged",
        "notified",
        "created_at",
    ]
    list_filter = ["flagged", "notified", "trigger"]
    search_fields = ["registered_model__name"]
    list_select_related = ["registered_model", "model_version", "model_version__registered_model"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
