"""Monitoring API: the prediction log, feedback and drift reports of a registered model."""

from __future__ import annotations

import csv
import io
import json

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.core.api.base import BooleanFilter, FilterSerializer, ScopedAPIView, parse_filters
from apps.core.exceptions import ValidationError
from apps.monitoring import selectors, services
from apps.monitoring.api import serializers as s
from apps.monitoring.choices import ReportTrigger
from apps.monitoring.models import DriftReport
from apps.projects.csv_safety import escape_cell
from apps.registry.models import RegisteredModel

CSV_COLUMNS = [
    "id", "created_at", "version", "source", "batch_id", "caller", "inputs", "prediction", "probabilities",
    "latency_ms", "actual", "actual_at",
]  # fmt: skip


class MonitoredModelView(ScopedAPIView):
    """Endpoints under ``registered-models/{id}/``: a model of another project is not found (404)."""

    abstract = True
    project_field = "project"
    queryset = RegisteredModel.objects.select_related("project")


class PredictionLogView(MonitoredModelView):
    serializer_class = s.PredictionRecordSerializer

    def perform_content_negotiation(self, request, force=False):
        renderer = JSONRenderer()  # ``?format=csv`` is ours, not DRF's renderer switch
        return renderer, renderer.media_type

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["json", "csv"], description="Default json")],
        responses={200: s.PredictionRecordSerializer(many=True), (200, "text/csv"): bytes},
    )
    def get(self, request, pk: int):
        registered_model = self.get_object()
        records = selectors.prediction_log(registered_model=registered_model)
        kind = request.query_params.get("format", "json")
        if kind == "csv":
            response = StreamingHttpResponse(_csv_lines(records), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="predictions-{registered_model.pk}.csv"'
            return response
        if kind != "json":
            raise ValidationError(f"Unknown format '{kind}'; use json or csv.", field="format")
        page = self.paginate_queryset(records)
        return self.get_paginated_response(s.PredictionRecordSerializer(page, many=True).data)


def _csv_lines(records):
    """The log as CSV, formula-like cells escaped, streamed in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for index, record in enumerate(records.iterator(chunk_size=1000)):
        cells = [
            record.public_id, record.created_at.isoformat(), record.model_version.version, record.source,
            record.batch_id, record.caller.username if record.caller else "", json.dumps(record.inputs),
            json.dumps(record.prediction), json.dumps(record.probabilities) if record.probabilities else "",
            record.latency_ms, json.dumps(record.actual) if record.actual is not None else "",
            record.actual_at.isoformat() if record.actual_at else "",
        ]  # fmt: skip
        writer.writerow([escape_cell("" if cell is None else str(cell)) for cell in cells])
        if index % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


class FeedbackView(MonitoredModelView):
    serializer_class = s.FeedbackItemSerializer

    @extend_schema(request=s.FeedbackItemSerializer(many=True), responses={201: s.FeedbackResultSerializer})
    def post(self, request, pk: int):
        registered_model = self.get_object()
        many = isinstance(request.data, list)
        if many and not request.data:
            raise ValidationError("Send at least one {prediction_id, actual}.")
        data = s.FeedbackItemSerializer(data=request.data, many=many)
        data.is_valid(raise_exception=True)
        items = data.validated_data if many else [data.validated_data]
        recorded = services.feedback_record(registered_model=registered_model, user=request.user, items=items)
        return Response({"recorded": recorded}, status=status.HTTP_201_CREATED)


class DriftListFilter(FilterSerializer):
    refresh = BooleanFilter(help_text="Make a new report first (editors)")


class RegisteredModelDriftView(MonitoredModelView):
    serializer_class = s.DriftReportSerializer

    @extend_schema(
        parameters=[OpenApiParameter("refresh", bool, description="Make a new report first")],
        responses=s.DriftReportSerializer(many=True),
    )
    def get(self, request, pk: int):
        registered_model = self.get_object()
        if parse_filters(DriftListFilter, request).get("refresh"):
            services.drift_report_create(
                registered_model=registered_model, user=request.user, trigger=ReportTrigger.MANUAL
            )
        reports = selectors.drift_reports_visible_to(user=request.user).filter(registered_model=registered_model)
        page = self.paginate_queryset(reports)
        return self.get_paginated_response(s.DriftReportSerializer(page, many=True).data)

    @extend_schema(request=None, responses={201: s.DriftReportSerializer})
    def post(self, request, pk: int):
        report = services.drift_report_create(
            registered_model=self.get_object(), user=request.user, trigger=ReportTrigger.MANUAL
        )
        return Response(s.DriftReportSerializer(report).data, status=status.HTTP_201_CREATED)


class DriftReportDetailView(ScopedAPIView, generics.RetrieveAPIView):
    project_field = "registered_model__project"
    serializer_class = s.DriftReportSerializer
    queryset = DriftReport.objects.select_related("registered_model", "model_version")
