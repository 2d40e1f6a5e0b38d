from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.automl.choices import TaskType
from apps.automl.models import TrainingJob
from apps.automl.selectors import training_job_model_version_id


class TrainingJobCreateSerializer(serializers.Serializer):
    """The request of ``POST automl/jobs``; the rules that need the dataset live in the service."""

    dataset_id = serializers.IntegerField(min_value=1)
    target = serializers.CharField(max_length=255)
    task_type = serializers.ChoiceField(choices=TaskType.choices, default=TaskType.AUTO)
    time_budget = serializers.IntegerField(help_text="Seconds AutoGluon may spend fitting.")
    metric = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    presets = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    registered_model_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class TrainingJobQueuedSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrainingJob
        fields = ["id", "status"]


class CurrentBestSerializer(serializers.Serializer):
    """The best model fitted so far and its validation score (null before the first model is fitted)."""

    model = serializers.CharField(allow_null=True)
    score = serializers.FloatField(allow_null=True)
    metric = serializers.CharField(allow_blank=True)


class TrainingJobSerializer(serializers.ModelSerializer):
    """A job as ``GET automl/jobs/{id}`` shows it."""

    dataset_id = serializers.IntegerField(read_only=True)
    project = serializers.IntegerField(source="project_id", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    current_best = serializers.SerializerMethodField()
    model_version_id = serializers.SerializerMethodField()

    class Meta:
        model = TrainingJob
        fields = [
            "id", "project", "dataset_id", "target", "task_type", "problem_type", "time_budget", "metric",
            "presets", "registered_model_name", "status", "progress", "current_best", "error", "best_model",
            "eval_metric", "mlflow_run_id", "created_by", "created_at", "started_at", "finished_at",
            "cancel_requested_at", "model_version_id",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(CurrentBestSerializer)
    def get_current_best(self, job: TrainingJob) -> dict:
        best = job.current_best or {}
        return {"model": best.get("model"), "score": best.get("score"), "metric": best.get("metric") or job.metric}

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_model_version_id(self, job: TrainingJob) -> int | None:
        return training_job_model_version_id(job=job)


class LeaderboardRowSerializer(serializers.Serializer):
    model = serializers.CharField()
    score_val = serializers.FloatField(allow_null=True)
    score_test = serializers.FloatField(allow_null=True)
    fit_time = serializers.FloatField(allow_null=True)
    pred_time_val = serializers.FloatField(allow_null=True)
    pred_time_test = serializers.FloatField(allow_null=True, required=False)
    stack_level = serializers.IntegerField(allow_null=True, required=False)


class TrainingJobResultsSerializer(serializers.Serializer):
    """``GET automl/jobs/{id}/results``: scores are AutoGluon's, higher is better (error metrics negated)."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    problem_type = serializers.CharField()
    eval_metric = serializers.CharField()
    best_model = serializers.CharField()
    leaderboard = LeaderboardRowSerializer(many=True)
    metrics = serializers.DictField(child=serializers.FloatField(allow_null=True))
    features = serializers.ListField(child=serializers.DictField())
    class_labels = serializers.ListField(child=serializers.JSONField())
    split = serializers.DictField()
    mlflow_run_id = serializers.CharField(allow_blank=True)
    artifact_sha256 = serializers.CharField(allow_blank=True)
    artifact_size = serializers.IntegerField(allow_null=True)
    model_version_id = serializers.IntegerField(allow_null=True)
