from django.contrib import admin

from apps.core.admin import WorkEventInline
from apps.explain.models import Explanation, ExplanationEvent


class ExplanationEventInline(WorkEventInline):
    model = ExplanationEvent


@admin.register(Explanation)
class ExplanationAdmin(admin.ModelAdmin):
    """Operators see what was explained, how long it took and why one failed; explanations are computed
    by the service, never edited here."""

    list_display = ["id", "model_version", "method", "status", "progress", "eta_at", "budget", "elapsed_seconds",
                    "attempts", "created_by", "created_at", "finished_at"]  # fmt: skip
    list_filter = ["method", "status"]
    search_fields = ["model_version__registered_model__name", "cache_key", "error"]
    date_hierarchy = "created_at"
    list_select_related = ["model_version__registered_model", "created_by"]
    inlines = [ExplanationEventInline]

    @admin.display(description="budget (s)")
    def budget(self, obj: Explanation):
        return (obj.params or {}).get("budget_s")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Explanation._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
