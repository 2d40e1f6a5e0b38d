"""Input and output serializers of the governance API."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.base import BooleanFilter, FilterSerializer, IdFilter, ProjectFilter
from apps.governance.choices import ApprovalState
from apps.governance.models import ApprovalPolicy, ApprovalRequest, Notification, WebhookDelivery, WebhookEndpoint
from apps.governance.selectors import effective_reminder_days


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")


class ApprovalFilter(FilterSerializer):
    state = serializers.ChoiceField(choices=ApprovalState.choices, required=False)
    project = ProjectFilter(source="model_version__registered_model__project_id")
    model_version = IdFilter(source="model_version_id")


class ApprovalSummarySerializer(serializers.ModelSerializer):
    """One row of ``GET approvals``."""

    submitted_by = serializers.CharField(source="submitted_by.username")
    submitted_at = serializers.DateTimeField(source="created_at")
    version = serializers.IntegerField(source="model_version.version")
    registered_model = serializers.SerializerMethodField()
    project = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "state",
            "model_version",
            "version",
            "registered_model",
            "project",
            "submitted_by",
            "submitted_at",
            "checks_status",
            "decided_at",
            "updated_at",
        ]

    def get_registered_model(self, obj) -> dict:
        registered_model = obj.model_version.registered_model
        return {"id": registered_model.pk, "name": registered_model.name}

    def get_project(self, obj) -> dict:
        project = obj.model_version.registered_model.project
        return {"id": project.pk, "name": project.name}


class ApprovalDetailSerializer(serializers.Serializer):
    """``GET approvals/{id}``: the request, its checks, votes, history and whether the hash chain verifies."""

    id = serializers.IntegerField()
    state = serializers.CharField()
    model_version = serializers.IntegerField()
    submitted_by = serializers.CharField()
    history = serializers.ListField(child=serializers.DictField())
    history_verified = serializers.BooleanField()
    chain = serializers.DictField()
    checks_status = serializers.CharField()
    checks = serializers.ListField(child=serializers.DictField())
    actions = serializers.ListField(child=serializers.CharField(), required=False)


class NotificationSerializer(serializers.ModelSerializer):
    read = serializers.SerializerMethodField()
    approval_request = serializers.IntegerField(source="request_id", allow_null=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "url", "approval_request", "read", "read_at", "created_at"]

    def get_read(self, obj) -> bool:
        return obj.read_at is not None


class NotificationFilter(FilterSerializer):
    unread = BooleanFilter(source="read_at__isnull")


class WebhookDeliverySerializer(serializers.ModelSerializer):
    msg_id = serializers.CharField(source="message.msg_id")
    event = serializers.CharField(source="message.event")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "msg_id",
            "event",
            "attempt",
            "ok",
            "status_code",
            "error",
            "duration_ms",
            "peer_ip",
            "created_at",
        ]


class WebhookEndpointSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    recent_deliveries = serializers.SerializerMethodField()

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "project",
            "url",
            "description",
            "is_active",
            "state",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "last_success_at",
            "created_by",
            "created_at",
            "recent_deliveries",
        ]

    def get_state(self, obj) -> str:
        return "active" if obj.is_active else "disabled"

    def get_recent_deliveries(self, obj) -> list[dict]:
        limit = self.context.get("deliveries", 10)
        rows = obj.deliveries.select_related("message").order_by("-created_at", "-id")[:limit]
        return WebhookDeliverySerializer(rows, many=True).data


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    is_active = serializers.BooleanField(required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)


class ApprovalPolicySerializer(serializers.ModelSerializer):
    effective_reminder_days = serializers.SerializerMethodField()
    # null while the project still follows the default policy (no row saved yet)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = ApprovalPolicy
        fields = [
            "project",
            "min_approvers",
            "deployer_must_differ",
            "holdout_metric",
            "holdout_min_score",
            "reminder_days",
            "effective_reminder_days",
            "notify_admins",
            "updated_at",
        ]

    def get_effective_reminder_days(self, obj) -> int:
        return effective_reminder_days(obj)


class ApprovalPolicyUpdateSerializer(serializers.Serializer):
    min_approvers = serializers.IntegerField(required=False, min_value=1, max_value=10)
    deployer_must_differ = serializers.BooleanField(required=False)
    holdout_metric = serializers.CharField(required=False, allow_blank=True, max_length=64)
    holdout_min_score = serializers.FloatField(required=False, allow_null=True)
    reminder_days = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=365)
    notify_admins = serializers.BooleanField(required=False)
