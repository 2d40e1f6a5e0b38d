"""Registry API: thin views that scope to the user's projects, call one service and serialize."""

from __future__ import annotations

import logging
import time

from django.http import FileResponse, HttpResponse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.automl.models import TrainingJob
from apps.core.api.base import FilterSerializer, IdFilter, ProjectFilter, ScopedAPIView
from apps.core.api.parsers import PREDICT_LIMIT_SETTING
from apps.core.exceptions import Conflict, NotFound, ValidationError
from apps.core.ratelimit import ApiRateThrottle
from apps.projects.selectors import datasets_visible_to
from apps.registry import hooks, selectors, services
from apps.registry.api import serializers as s
from apps.registry.cards import card_render_html, card_render_pdf
from apps.registry.metrics import prediction_served
from apps.registry.models import BatchPrediction, ModelVersion, RegisteredModel
from apps.registry.serving import model_version_predict, serving_versions

logger = logging.getLogger("maestro.registry")


class RegistryView(ScopedAPIView):
    """Base of the registered-model endpoints: active users only, objects narrowed to their projects (else 404)."""

    abstract = True
    project_field = "project"


class JSONOnlyNegotiationMixin:
    """For endpoints answering files (card HTML/PDF, CSV): ``?format=`` is ours, not DRF's renderer switch."""

    def perform_content_negotiation(self, request, force=False):
        renderer = JSONRenderer()
        return renderer, renderer.media_type


class PredictRateThrottle(ApiRateThrottle):
    """Online prediction is called by programs far more often than the rest of the API: its own limit."""

    group = "predict"
    rate_setting = "RATELIMIT_PREDICT"


def _prediction_response(version: ModelVersion, data: dict, caller_id: int | None = None) -> Response:
    started = time.perf_counter()
    result = model_version_predict(
        version=version, instances=data["instances"], ignore_extra=data.get("ignore_extra", False)
    )
    model_ms = (time.perf_counter() - started) * 1000
    prediction_served(
        registered_model_id=version.registered_model_id, rows=len(result.predictions), seconds=model_ms / 1000
    )
    body = {
        "model_version_id": version.pk,
        "registered_model_id": version.registered_model_id,
        "version": version.version,
        "predictions": result.predictions,
    }
    if result.probabilities is not None:
        body["probabilities"] = result.probabilities
        body["class_labels"] = result.class_labels
    # Monitoring's prediction log (production versions): ids the client names in feedback; queued, never blocking.
    prediction_ids = hooks.online_predictions_made(
        version=version,
        instances=data["instances"],
        predictions=result.predictions,
        probabilities=result.probabilities,
        caller_id=caller_id,
        latency_ms=model_ms,
    )
    if prediction_ids is not None:
        body["prediction_ids"] = prediction_ids
    response = Response(body)
    response.model_ms = model_ms
    return response


class ServerTimingMixin:
    """``Server-Timing: model;dur=…, platform;dur=…``: how long validation + the model took (batching's wait
    included), and the rest of the view's time (authentication, scoping, rate limit, parsing, rendering), so
    clients can tell the model's time from the platform's, and both from network and queueing."""

    def dispatch(self, request, *args, **kwargs):
        started = time.perf_counter()
        response = super().dispatch(request, *args, **kwargs)
        model_ms = getattr(response, "model_ms", None)
        if model_ms is not None:
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
            total_ms = (time.perf_counter() - started) * 1000
            response["Server-Timing"] = f"model;dur={model_ms:.2f}, platform;dur={max(0.0, total_ms - model_ms):.2f}"
        return response


# ---------------------------------------------------------------------------
# Registered models
# ---------------------------------------------------------------------------
class RegisteredModelFilter(FilterSerializer):
    project = ProjectFilter(source="project_id")


@extend_schema(parameters=[OpenApiParameter("project", int, description="Only this project's models")])
class RegisteredModelListView(RegistryView, generics.ListAPIView):
    serializer_class = s.RegisteredModelSerializer
    filter_serializer_class = RegisteredModelFilter

    def get_queryset(self):
        return selectors.registered_models_visible_to(user=self.request.user)


class RegisteredModelDetailView(RegistryView, generics.RetrieveAPIView):
    serializer_class = s.RegisteredModelSerializer

    def get_queryset(self):
        return selectors.registered_models_visible_to(user=self.request.user)

    @extend_schema(request=s.RegisteredModelUpdateSerializer, responses=s.RegisteredModelSerializer)
    def patch(self, request, pk: int):
        registered_model = self.get_object()
        data = s.RegisteredModelUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        registered_model = services.registered_model_update(
            registered_model=registered_model, user=request.user, **data.validated_data
        )
        return Response(s.RegisteredModelSerializer(self.get_queryset().get(pk=registered_model.pk)).data)


class RegisteredModelPredictView(ServerTimingMixin, RegistryView):
    """Served by the production version, read fresh on every call; scoped like ``ModelVersionPredictView``."""

    throttle_classes = [PredictRateThrottle]
    json_max_bytes_setting = PREDICT_LIMIT_SETTING
    serializer_class = s.PredictSerializer
    queryset = RegisteredModel.objects.none()  # for the schema

    @extend_schema(request=s.PredictSerializer, responses=s.PredictionSerializer)
    def post(self, request, pk: int):
        row = (
            RegisteredModel.objects.filter(pk=pk)
            .values_list(
                "name", "project_id", "project__name", "production_version_id", "production_version__artifact_sha256"
            )
            .first()
        )
        if row is None:
            raise NotFound("Not found.")
        name, project_id, project_name, version_id, sha256 = row
        self.check_project(project_id=project_id, project_name=project_name)
        data = s.PredictSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if version_id is None:
            raise Conflict(f"'{name}' has no production version; deploy one first.")
        version = serving_versions.get(version_id=version_id, sha256=sha256)
        return _prediction_response(version, data.validated_data, caller_id=request.user.pk)


class RegisteredModelDeployView(RegistryView):
    queryset = RegisteredModel.objects.select_related("project")
    serializer_class = s.RegisteredModelDeploySerializer

    @extend_schema(request=s.RegisteredModelDeploySerializer, responses={201: s.DeploymentSerializer})
    def post(self, request, pk: int):
        registered_model = self.get_object()
        data = s.RegisteredModelDeploySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        versions = registered_model.versions.select_related("registered_model__project")
        if "model_version_id" in data.validated_data:
            version = versions.filter(pk=data.validated_data["model_version_id"]).first()
        else:
            version = versions.filter(version=data.validated_data["version"]).first()
        if version is None:
            raise ValidationError(f"'{registered_model.name}' has no such version.", field="model_version_id")
        deployment = services.model_version_deploy(
            version=version, user=request.user, comment=data.validated_data["comment"]
        )
        return Response(s.DeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)


class RegisteredModelRollbackView(RegistryView):
    queryset = RegisteredModel.objects.select_related("project")
    serializer_class = s.DeploySerializer

    @extend_schema(request=s.DeploySerializer, responses={201: s.DeploymentSerializer})
    def post(self, request, pk: int):
        registered_model = self.get_object()
        data = s.DeploySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deployment = services.registered_model_rollback(
            registered_model=registered_model, user=request.user, comment=data.validated_data["comment"]
        )
        return Response(s.DeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)


class RegisteredModelDeploymentsView(RegistryView, generics.ListAPIView):
    """The deployments of one registered model, newest first; 404 for a model of another project."""

    serializer_class = s.DeploymentSerializer
    queryset = RegisteredModel.objects.all()

    def get_queryset(self):
        # ``self.queryset`` is already narrowed to the user's projects by the base.
        registered_model = generics.get_object_or_404(self.queryset, pk=self.kwargs["pk"])
        return registered_model.deployments.select_related("model_version", "previous_version", "deployed_by")


# ---------------------------------------------------------------------------
# Model versions
# ---------------------------------------------------------------------------
class ModelVersionView(ScopedAPIView):
    """Base of the model-version endpoints."""

    abstract = True
    project_field = "registered_model__project"
    queryset = ModelVersion.objects.select_related(
        "registered_model", "registered_model__project", "dataset", "job", "created_by"
    )


def serialized_only(queryset):
    """Versions reading what ``ModelVersionSerializer`` prints: no card or leaderboard (GET models/{id}/card
    shows them) and, of the related rows, the registered model and the author only (the dataset, the job with
    its own leaderboard and the project were joined and read on every GET models/{id} and printed nowhere)."""
    return queryset.select_related(None).select_related("registered_model", "created_by").defer("card", "leaderboard")


class ModelVersionFilter(FilterSerializer):
    project = ProjectFilter(source="registered_model__project_id")
    registered_model = IdFilter(source="registered_model_id")


@extend_schema(
    parameters=[
        OpenApiParameter("project", int, description="Only this project's versions"),
        OpenApiParameter("registered_model", int, description="Only this registered model's versions"),
    ]
)
class ModelVersionListView(ModelVersionView, generics.ListAPIView):
    serializer_class = s.ModelVersionSerializer
    filter_serializer_class = ModelVersionFilter

    def get_queryset(self):
        # The list shows no card or leaderboard (GET models/{id}/card does): do not read them for every row.
        return serialized_only(super().get_queryset()).order_by("-created_at", "-id")


class ModelVersionDetailView(ModelVersionView, generics.RetrieveAPIView):
    serializer_class = s.ModelVersionSerializer

    def get_queryset(self):
        return serialized_only(super().get_queryset())

    @extend_schema(request=s.ModelVersionUpdateSerializer, responses=s.ModelVersionSerializer)
    def patch(self, request, pk: int):
        version = self.get_object()
        data = s.ModelVersionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.model_version_update(version=version, user=request.user, **data.validated_data)
        return Response(s.ModelVersionSerializer(self.get_queryset().get(pk=version.pk)).data)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="The version is deployed or depended on")})
    def delete(self, request, pk: int):
        services.model_version_delete(version=self.get_object(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelVersionLineageView(ModelVersionView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk: int):
        return Response(selectors.model_version_lineage(version=self.get_object()))


@extend_schema(
    parameters=[OpenApiParameter("format", str, enum=["json", "html", "pdf"], description="Default json")],
    responses={
        (200, "application/json"): OpenApiTypes.OBJECT,
        (200, "text/html"): str,
        (200, "application/pdf"): bytes,
    },
)
class ModelVersionCardView(JSONOnlyNegotiationMixin, ModelVersionView):
    def get(self, request, pk: int):
        version = services.model_card_refresh(version=self.get_object())
        kind = request.query_params.get("format", "json")
        filename = f"model-card-{slugify(version.registered_model.name)}-v{version.version}"
        if kind == "json":
            return Response(version.card)
        if kind == "html":
            return HttpResponse(card_render_html(version.card), content_type="text/html; charset=utf-8")
        if kind == "pdf":
            response = HttpResponse(card_render_pdf(version.card), content_type="application/pdf")
            response["Content-Disposition"] = f'inline; filename="{filename}.pdf"'
            return response
        raise ValidationError(f"Unknown card format '{kind}'; use json, html or pdf.", field="format")


class ModelVersionPredictView(ServerTimingMixin, ModelVersionView):
    """The hot path: one small query finds the version's project and archive hash, the base's
    ``check_project`` scopes it (same 404 rule as the mixin, whose guardian subquery costs milliseconds here), and the
    version's immutable serving fields come from the process' cache."""

    throttle_classes = [PredictRateThrottle]
    json_max_bytes_setting = PREDICT_LIMIT_SETTING
    serializer_class = s.PredictSerializer
    queryset = ModelVersion.objects.none()  # for the schema; the object comes from get_object()

    def get_object(self) -> ModelVersion:
        row = (
            ModelVersion.objects.filter(pk=self.kwargs["pk"])
            .values_list("registered_model__project_id", "registered_model__project__name", "artifact_sha256")
            .first()
        )
        if row is None:
            raise NotFound("Not found.")
        project_id, project_name, sha256 = row
        self.check_project(project_id=project_id, project_name=project_name)
        return serving_versions.get(version_id=self.kwargs["pk"], sha256=sha256)

    @extend_schema(request=s.PredictSerializer, responses=s.PredictionSerializer)
    def post(self, request, pk: int):
        version = self.get_object()
        data = s.PredictSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _prediction_response(version, data.validated_data, caller_id=request.user.pk)


class ModelVersionDeployView(ModelVersionView):
    serializer_class = s.DeploySerializer

    @extend_schema(request=s.DeploySerializer, responses={201: s.DeploymentSerializer})
    def post(self, request, pk: int):
        version = self.get_object()
        data = s.DeploySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deployment = services.model_version_deploy(version=version, user=request.user, **data.validated_data)
        return Response(s.DeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)


class ModelVersionBatchPredictionsView(ModelVersionView):
    serializer_class = s.BatchPredictionCreateSerializer

    @extend_schema(responses=s.BatchPredictionSerializer(many=True))
    def get(self, request, pk: int):
        version = self.get_object()
        batches = version.batch_predictions.all()
        page = self.paginate_queryset(batches)
        data = s.BatchPredictionSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=s.BatchPredictionCreateSerializer, responses={202: s.BatchPredictionSerializer})
    def post(self, request, pk: int):
        version = self.get_object()
        data = s.BatchPredictionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset_id = data.validated_data["dataset_id"]
        dataset = datasets_visible_to(user=request.user).filter(pk=dataset_id).first()
        if dataset is None:
            raise ValidationError(f"No dataset {dataset_id} in your projects.", field="dataset_id")
        batch = services.batch_prediction_create(version=version, dataset=dataset, user=request.user)
        return Response(
            s.BatchPredictionSerializer(batch, context={"request": request}).data, status=status.HTTP_202_ACCEPTED
        )


# ---------------------------------------------------------------------------
# Batch predictions
# ---------------------------------------------------------------------------
class BatchPredictionView(ScopedAPIView):
    abstract = True
    project_field = "model_version__registered_model__project"
    queryset = BatchPrediction.objects.select_related("model_version", "dataset")


class BatchPredictionDetailView(BatchPredictionView, generics.RetrieveAPIView):
    serializer_class = s.BatchPredictionSerializer


class BatchPredictionDownloadView(JSONOnlyNegotiationMixin, BatchPredictionView):
    @extend_schema(responses={(200, "text/csv"): bytes})
    def get(self, request, pk: int):
        batch = self.get_object()
        if not batch.result_file:
            raise Conflict(f"Batch prediction {batch.pk} is {batch.status}; it has no result yet.")
        storage = batch.result_file.storage
        if not storage.exists(batch.result_file.name):
            raise NotFound(f"The result file of batch prediction {batch.pk} is missing from storage.")
        return FileResponse(
            storage.open(batch.result_file.name, "rb"),
            as_attachment=True,
            filename=f"batch-prediction-{batch.pk}.csv",
            content_type="text/csv",
        )


# ---------------------------------------------------------------------------
# AutoML jobs
# ---------------------------------------------------------------------------
class TrainingJobDeployView(RegistryView):
    project_field = "project"
    queryset = TrainingJob.objects.select_related("project")
    serializer_class = s.DeploySerializer

    @extend_schema(request=s.DeploySerializer, responses={201: s.DeploymentSerializer})
    def post(self, request, pk: int):
        job = self.get_object()
        data = s.DeploySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deployment = services.training_job_deploy(job=job, user=request.user, **data.validated_data)
        return Response(s.DeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)
