from rest_framework import serializers

from apps.monitoring.models import DriftReport, PredictionRecord


class PredictionRecordSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    model_version_id = serializers.IntegerField(read_only=True)
    version = serializers.IntegerField(source="model_version.version", read_only=True)
    caller = serializers.CharField(source="caller.username", read_only=True, default=None)

    class Meta:
        model = PredictionRecord
        fields = [
            "id", "model_version_id", "version", "source", "batch_id", "created_at", "inputs", "prediction",
            "probabilities", "latency_ms", "caller", "actual", "actual_at",
        ]  # fmt: skip


class FeedbackItemSerializer(serializers.Serializer):
    prediction_id = serializers.UUIDField()
    actual = serializers.JSONField(help_text="The true outcome: one of the class labels, or a number (regression)")

    def validate_actual(self, value):
        if value is None:
            raise serializers.ValidationError("The true outcome may not be null.")
        return value


class FeedbackResultSerializer(serializers.Serializer):
    recorded = serializers.IntegerField()


class DriftReportSerializer(serializers.ModelSerializer):
    registered_model_id = serializers.IntegerField(read_only=True)
    model_version_id = serializers.IntegerField(read_only=True)
    version = serializers.IntegerField(source="model_version.version", read_only=True)

    class Meta:
        model = DriftReport
        fields = [
            "id", "registered_model_id", "model_version_id", "version", "trigger", "created_at", "window_start",
            "window_end", "n_current", "n_reference", "n_features", "n_drifted", "drift_share", "share_threshold",
            "flagged", "notified", "features", "prediction_drift", "live_metric",
        ]  # fmt: skip
