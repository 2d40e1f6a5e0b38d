from django.contrib import admin

from apps.core.models import AuditLogEntry


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(admin.ModelAdmin):
    """The audit log, read-only: entries are never added, changed or deleted by hand.

    Viewing needs ``core.view_auditlogentry`` (the ``audit:view`` capability of the admin role).
    """

    list_display = ("created_at", "actor_username", "action", "target_type", "target_id", "ip_address")
    list_filter = ("action", "target_type")
    search_fields = ("actor_username", "action", "target_id", "ip_address")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in AuditLogEntry._meta.fields]
    fields = readonly_fields
    list_select_related = ("actor",)
    actions = None

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class WorkEventInline(admin.TabularInline):
    """A background work's state history, oldest first (append-only): set ``model`` to its WorkEvent."""

    extra = 0
    can_delete = False
    fields = ["created_at", "from_state", "to_state", "by", "message"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False
