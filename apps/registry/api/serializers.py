from django.urls import reverse
from rest_framework import serializers

from apps.registry.choices import BatchStatus
from apps.registry.models import BatchPrediction, Deployment, ModelVersion, RegisteredModel

_DATETIME = serializers.DateTimeField()


def _datetime(value) -> str | None:
    """A datetime exactly as DRF's ``DateTimeField`` prints it (ISO 8601, ``Z`` for UTC)."""
    return _DATETIME.to_representation(value) if value is not None else None


class ModelVersionSummarySerializer(serializers.ModelSerializer):
    sha256 = serializers.CharField(source="artifact_sha256")

    class Meta:
        model = ModelVersion
        fields = ["id", "version", "status", "task_type", "metrics", "sha256", "mlflow_sync_status", "created_at"]

    def to_representation(self, version: ModelVersion) -> dict:
        # The declared fields' output, built directly: lists print this for every version of every model, and
        # DRF's walk over bound fields cost more than the query (tests/registry/test_list_queries.py pins both).
        return {
            "id": version.pk,
            "version": version.version,
            "status": version.status,
            "task_type": version.task_type,
            "metrics": version.metrics,
            "sha256": version.artifact_sha256,
            "mlflow_sync_status": version.mlflow_sync_status,
            "created_at": _datetime(version.created_at),
        }


class ModelVersionSerializer(serializers.ModelSerializer):
    registered_model_name = serializers.CharField(source="registered_model.name")
    project = serializers.IntegerField(source="registered_model.project_id")
    sha256 = serializers.CharField(source="artifact_sha256")
    job_id = serializers.IntegerField(allow_null=True)
    dataset_id = serializers.IntegerField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    is_production = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "registered_model",
            "registered_model_name",
            "project",
            "version",
            "status",
            "is_production",
            "metrics",
            "eval_metric",
            "best_model",
            "features",
            "target",
            "task_type",
            "class_labels",
            "sha256",
            "artifact_size",
            "job_id",
            "dataset_id",
            "mlflow_run_id",
            "mlflow_version",
            "mlflow_sync_status",
            "mlflow_sync_error",
            "intended_use",
            "limitations",
            "card_generated_at",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_is_production(self, version: ModelVersion) -> bool:
        return version.registered_model.production_version_id == version.pk


class ModelVersionUpdateSerializer(serializers.Serializer):
    intended_use = serializers.CharField(required=False, allow_blank=True, max_length=10_000, trim_whitespace=False)
    limitations = serializers.CharField(required=False, allow_blank=True, max_length=10_000, trim_whitespace=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send 'intended_use' and/or 'limitations'.")
        return attrs


class RegisteredModelSerializer(serializers.ModelSerializer):
    versions = ModelVersionSummarySerializer(many=True, read_only=True)
    production_version = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)  # null: none deployed
    production_version_number = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RegisteredModel
        fields = [
            "id",
            "name",
            "project",
            "description",
            "tags",
            "versions",
            "production_version",
            "production_version_number",
            "mlflow_name",
            "mlflow_sync_status",
            "mlflow_sync_error",
            "mlflow_synced_at",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_production_version_number(self, registered_model: RegisteredModel) -> int | None:
        production = registered_model.production_version
        return production.version if production else None

    def to_representation(self, registered_model: RegisteredModel) -> dict:
        # The declared fields' output, built directly (see ModelVersionSummarySerializer.to_representation).
        summary = ModelVersionSummarySerializer()
        return {
            "id": registered_model.pk,
            "name": registered_model.name,
            "project": registered_model.project_id,
            "description": registered_model.description,
            "tags": registered_model.tags,
            "versions": [summary.to_representation(version) for version in registered_model.versions.all()],
            "production_version": registered_model.production_version_id,
            "production_version_number": self.get_production_version_number(registered_model),
            "mlflow_name": registered_model.mlflow_name,
            "mlflow_sync_status": registered_model.mlflow_sync_status,
            "mlflow_sync_error": registered_model.mlflow_sync_error,
            "mlflow_synced_at": _datetime(registered_model.mlflow_synced_at),
            "created_by": registered_model.created_by.username if registered_model.created_by_id else None,
            "created_at": _datetime(registered_model.created_at),
            "updated_at": _datetime(registered_model.updated_at),
        }


class RegisteredModelUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    tags = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=50)


class PredictSerializer(serializers.Serializer):
    instances = serializers.JSONField(help_text="[{feature: value, ...}, ...]")
    ignore_extra = serializers.BooleanField(
        default=False, help_text="Drop columns the model does not know instead of answering 400."
    )


class PredictionSerializer(serializers.Serializer):
    model_version_id = serializers.IntegerField()
    registered_model_id = serializers.IntegerField()
    version = serializers.IntegerField()
    predictions = serializers.ListField(child=serializers.JSONField())
    probabilities = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()), required=False, help_text="Classification only"
    )
    class_labels = serializers.ListField(child=serializers.JSONField(), required=False)
    prediction_ids = serializers.ListField(
        child=serializers.CharField(allow_null=True),
        required=False,
        help_text="Production versions with monitoring on: one id per row to send feedback about (null: not logged)",
    )


class DeploySerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")


class RegisteredModelDeploySerializer(DeploySerializer):
    model_version_id = serializers.IntegerField(required=False)
    version = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs):
        if "model_version_id" not in attrs and "version" not in attrs:
            raise serializers.ValidationError({"model_version_id": ["Name the version: model_version_id or version."]})
        return attrs


class DeploymentSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="model_version.version")
    previous_version_number = serializers.SerializerMethodField()
    deployed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    deployed_at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Deployment
        fields = [
            "id",
            "action",
            "registered_model",
            "model_version",
            "version",
            "previous_version",
            "previous_version_number",
            "deployed_by",
            "deployed_at",
            "comment",
        ]
        read_only_fields = fields

    def get_previous_version_number(self, deployment: Deployment) -> int | None:
        return deployment.previous_version.version if deployment.previous_version else None


class BatchPredictionCreateSerializer(serializers.Serializer):
    dataset_id = serializers.IntegerField()


class BatchPredictionSerializer(serializers.ModelSerializer):
    model_version_id = serializers.IntegerField()
    dataset_id = serializers.IntegerField()
    result_url = serializers.SerializerMethodField()

    class Meta:
        model = BatchPrediction
        fields = [
            "id",
            "status",
            "model_version_id",
            "dataset_id",
            "n_rows",
            "error",
            "result_url",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_result_url(self, batch: BatchPrediction) -> str | None:
        if batch.status != BatchStatus.SUCCEEDED or not batch.result_file:
            return None
        path = reverse("api-v1:batch-prediction-download", args=[batch.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path
