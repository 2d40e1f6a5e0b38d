from django.contrib import admin

from apps.backups.models import BackupRecord


@admin.register(BackupRecord)
class BackupRecordAdmin(admin.ModelAdmin):
    """Backups as they ran, read-only: they are written by ``manage.py backup`` and its scheduled task."""

    list_display = ("finished_at", "name", "outcome", "size_bytes", "target")
    list_filter = ("outcome",)
    search_fields = ("name", "error")
    readonly_fields = [field.name for field in BackupRecord._meta.fields]
    fields = readonly_fields
    actions = None

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
