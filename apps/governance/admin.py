"""The operators' view of governance: an approvals queue (open first, filters by state and project) whose approve
and reject actions go through the same services as the API — checks, separation of duties and all — and history
that can only be read."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from apps.core.exceptions import DomainError
from apps.governance import selectors, services
from apps.governance.models import (
    ApprovalEvent,
    ApprovalPolicy,
    ApprovalRequest,
    Notification,
    WebhookDelivery,
    WebhookEndpoint,
)


def _through_services(modeladmin, request, queryset, move, verb: str) -> None:
    done, refused = 0, []
    for approval in queryset:
        try:
            move(request=approval, user=request.user, comment=f"{verb} in the admin")
        except DomainError as exc:
            refused.append(f"#{approval.pk}: {exc.message}")
        else:
            done += 1
    if done:
        messages.success(request, f"{verb}: {done} request(s).")
    for reason in refused:
        messages.error(request, reason)


@admin.action(description="Approve the selected requests (checks and separation of duties apply)")
def approve(modeladmin, request, queryset):
    _through_services(modeladmin, request, queryset, services.approval_request_approve, "Approved")


@admin.action(description="Reject the selected requests")
def reject(modeladmin, request, queryset):
    _through_services(modeladmin, request, queryset, services.approval_request_reject, "Rejected")


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    """The approvals queue. Nothing here edits a request: moves are the actions, history is read-only."""

    list_display = ["pk", "model_version", "project", "state", "checks_status", "submitted_by", "created_at"]
    list_filter = [
        "state",
        "checks_status",
        ("model_version__registered_model__project", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["model_version__registered_model__name", "submitted_by__username"]
    list_select_related = ["model_version__registered_model__project", "submitted_by"]
    actions = [approve, reject]
    fields = [
        "model_version",
        "state",
        "submitted_by",
        "comment",
        "policy",
        "checks_status",
        "checks_display",
        "decided_at",
        "chain_display",
        "history_display",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.pending_first(super().get_queryset(request))

    def get_ordering(self, request):
        return []  # pending_first orders the queue; the admin must not replace it

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    # approve and reject declare no allowed_permissions: viewing the queue is enough to try them, and the services
    # decide who may (their refusals become messages). delete_selected needs the delete permission nobody has.

    @admin.display(description="Project")
    def project(self, obj):
        return obj.model_version.registered_model.project

    @admin.display(description="Checks")
    def checks_display(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.checks, indent=2, ensure_ascii=False))

    @admin.display(description="Hash chain")
    def chain_display(self, obj):
        report = selectors.history_verify(request=obj)
        if report.ok:
            return f"verifies ({report.length} rows)"
        return f"BROKEN at row {report.broken_at}: {report.reason}"

    @admin.display(description="History")
    def history_display(self, obj):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            (
                (e.sequence, e.at.strftime("%Y-%m-%d %H:%M:%S"), e.action, e.from_state or "–", e.to_state,
                 e.by_username or "system", e.comment, e.hash[:16])
                for e in obj.events.order_by("sequence")
            ),
        )  # fmt: skip
        return format_html(
            "<table><thead><tr><th>#</th><th>When</th><th>What</th><th>From → to</th><th>By</th><th>Comment</th>"
            "<th>Hash</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


@admin.register(ApprovalEvent)
class ApprovalEventAdmin(admin.ModelAdmin):
    """History rows, read-only (the model and its querysets refuse changes too)."""

    list_display = ["request", "sequence", "action", "from_state", "to_state", "by_username", "at"]
    list_filter = ["action"]
    search_fields = ["by_username", "comment"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        return {}


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):
    list_display = ["project", "min_approvers", "deployer_must_differ", "holdout_metric", "holdout_min_score"]
    readonly_fields = ["project", "updated_by", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False  # owners set policies through the API; a project without one follows the defaults


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    can_delete = False
    fields = ["created_at", "attempt", "ok", "status_code", "error", "duration_ms", "peer_ip"]
    readonly_fields = fields
    ordering = ["-created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "project", "is_active", "consecutive_failures", "last_success_at"]
    list_filter = ["is_active"]
    fields = ["project", "url", "description", "is_active", "consecutive_failures", "disabled_at", "disabled_reason"]
    readonly_fields = ["project", "url", "consecutive_failures", "disabled_at", "disabled_reason"]
    exclude = ["secret"]
    inlines = [WebhookDeliveryInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """In-app notifications and their email delivery, read-only: they are written by the approval workflow."""

    list_display = ["created_at", "user", "title", "kind", "read_at", "email_status"]
    list_filter = ["kind", "email_status", ("read_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "title", "body"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Notification._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
