"""Explanations API: ask (200 when cached or quick, 202 when it runs in the background), poll, and fetch
plots through an endpoint that checks project access."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.core import scoping
from apps.core.api.base import ScopedAPIView, parse_filters, validated
from apps.core.api.parsers import PREDICT_LIMIT_SETTING
from apps.core.exceptions import NotFound, ValidationError
from apps.core.models import WorkStatus
from apps.explain import selectors, services
from apps.explain.api import serializers as s
from apps.explain.choices import ExplanationMethod
from apps.explain.models import Explanation
from apps.registry.models import ModelVersion


class ExplainView(ScopedAPIView):
    """Explanations belong to their version's project: others' are not found."""

    abstract = True
    project_field = "model_version__registered_model__project"
    queryset = Explanation.objects.select_related("model_version")
    serializer_class = s.ExplanationQueuedSerializer

    def version(self, model_id: int) -> ModelVersion:
        versions = ModelVersion.objects.select_related("registered_model__project", "dataset", "job")
        version = (
            scoping.restrict(versions, user=self.request.user, project_field="registered_model__project")
            .filter(pk=model_id)
            .first()
        )
        if version is None:
            raise NotFound(f"Model version {model_id} not found.")
        return version

    def answer(self, explanation: Explanation, *, cached: bool = False) -> Response:
        code = status.HTTP_200_OK if explanation.status == WorkStatus.SUCCEEDED else status.HTTP_202_ACCEPTED
        headers = {}
        if code == status.HTTP_202_ACCEPTED:
            headers["Location"] = self.request.build_absolute_uri(f"/api/v1/explain/{explanation.pk}")
        return Response(s.explanation_data(explanation, self.request, cached=cached), status=code, headers=headers)

    def ask(self, version: ModelVersion, method: str, params: dict, rows=None, row_index=None) -> Response:
        explanation, cached = services.explanation_ask(
            user=self.request.user, version=version, method=method, params=params, rows=rows, row_index=row_index
        )
        return self.answer(explanation, cached=cached)


class ExplainShapView(ExplainView):
    """``{model_id, explanation_type: global|local, instance_data}``: SHAP values, importances and plots."""

    json_max_bytes_setting = PREDICT_LIMIT_SETTING  # instance_data carries rows, like a prediction

    @extend_schema(request=s.ShapRequestSerializer, responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT})
    def post(self, request):
        data = validated(s.ShapRequestSerializer, request.data)
        version = self.version(data.pop("model_id"))
        kind = data.pop("explanation_type")
        rows = data.pop("instance_data", None)
        method = ExplanationMethod.SHAP_GLOBAL if kind == "global" else ExplanationMethod.SHAP_LOCAL
        return self.ask(version, method, data, rows=rows if kind == "local" else None)


class ExplainLimeView(ExplainView):
    """``{model_id, instance_data}``: LIME's feature weights for the (first) row, its prediction and plot."""

    json_max_bytes_setting = PREDICT_LIMIT_SETTING

    @extend_schema(request=s.LimeRequestSerializer, responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT})
    def post(self, request):
        data = validated(s.LimeRequestSerializer, request.data)
        version = self.version(data.pop("model_id"))
        rows = data.pop("instance_data")
        return self.ask(version, ExplanationMethod.LIME, data, rows=rows)


class ExplanationListView(ExplainView, generics.ListAPIView):
    """Explanations of the versions you can see (``?model_id=``, ``?method=``), newest first."""

    filter_serializer_class = s.ExplanationFilter

    @extend_schema(
        operation_id="explain_list",
        parameters=[
            OpenApiParameter("model_id", int, description="Only this model version's explanations"),
            OpenApiParameter("method", str, enum=ExplanationMethod.values),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([s.explanation_data(item, request) for item in page])


class ExplanationDetailView(ExplainView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk: int):
        return Response(s.explanation_data(generics.get_object_or_404(self.get_queryset(), pk=pk), request))


class ExplanationPlotView(ExplainView):
    """A stored plot (PNG), for members of the project only."""

    def perform_content_negotiation(self, request, force=False):
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(responses={(200, "image/png"): bytes})
    def get(self, request, pk: int, name: str):
        explanation = generics.get_object_or_404(self.get_queryset(), pk=pk)
        stored = services.explanation_plot(explanation=explanation, name=name)
        response = FileResponse(default_storage.open(stored, "rb"), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class GlobalExplanationView(ExplainView):
    """The global SHAP explanation of a version: the latest one made, or one queued now (202)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT})
    def get(self, request, model_id: int):
        version = self.version(model_id)
        latest = selectors.latest_global_explanation(version=version)
        if latest is not None:
            return self.answer(latest, cached=latest.status == WorkStatus.SUCCEEDED)
        return self.ask(version, ExplanationMethod.SHAP_GLOBAL, {})


class LocalExplanationView(ExplainView):
    """Local SHAP for row ``instance_id`` (0-based) of the version's training dataset."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT})
    def get(self, request, model_id: int, instance_id: int):
        version = self.version(model_id)
        params = parse_filters(s.LocalQuerySerializer, request)
        row = selectors.training_row(version=version, index=instance_id)
        if row is None:
            raise ValidationError(
                f"instance_id must be below {version.dataset.n_rows}, the rows of dataset '{version.dataset.name}'.",
                field="instance_id",
            )
        return self.ask(version, ExplanationMethod.SHAP_LOCAL, params, rows=[row], row_index=[instance_id])
