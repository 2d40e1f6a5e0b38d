"""The monitoring page of a registered model: its latest drift report with per-feature charts, drift over time,
prediction volume and latency, and live accuracy against the held-out metric."""

from __future__ import annotations

import pandas as pd
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.core.web import attempt, visible_or_404
from apps.monitoring import charts, profile, selectors, services
from apps.monitoring.choices import ReportTrigger
from apps.monitoring.models import PredictionRecord, ReferenceProfile
from apps.projects.choices import ProjectRole
from apps.projects.permissions import user_may
from apps.registry.models import RegisteredModel

CHART_ROWS = 5000
HISTORY_REPORTS = 30


def _registered_model(request, pk: int) -> RegisteredModel:
    models = RegisteredModel.objects.select_related("project", "production_version")
    return visible_or_404(request, models, pk, project_field="project", what="Model")


def _feature_charts(report) -> list[dict]:
    reference = ReferenceProfile.objects.filter(model_version=report.model_version).first()
    if reference is None:
        return []
    inputs = list(
        PredictionRecord.objects.filter(
            model_version=report.model_version, created_at__gt=report.window_start, created_at__lte=report.window_end
        )
        .order_by("-created_at")
        .values_list("inputs", flat=True)[:CHART_ROWS]
    )
    current = profile.typed_frame(pd.DataFrame(inputs), report.model_version.features)
    rows = []
    for result in report.features:
        name = result["feature"]
        kind = result.get("kind") or "cat"
        chart = charts.feature_chart(
            kind=kind, reference=reference.features.get(name, {}), current=current.get(name, pd.Series([]))
        )
        rows.append({"result": result, "chart": chart})
    return rows


@login_required
@require_GET
def monitoring_page(request, pk: int):
    registered_model = _registered_model(request, pk)
    monitor = services.monitor_for(registered_model=registered_model)
    reports = list(
        selectors.drift_reports_visible_to(user=request.user).filter(registered_model=registered_model)[
            :HISTORY_REPORTS
        ]
    )
    latest = reports[0] if reports else None
    activity = selectors.prediction_activity(registered_model=registered_model)
    reference = (
        ReferenceProfile.objects.filter(model_version=registered_model.production_version).first()
        if registered_model.production_version
        else None
    )
    live = latest.live_metric if latest else {}
    context = {
        "registered_model": registered_model,
        "project": registered_model.project,
        "monitor": monitor,
        "reference": reference,
        "latest": latest,
        "reports": reports,
        "feature_rows": _feature_charts(latest) if latest else [],
        "drift_chart": charts.series_chart(
            [(report.created_at.strftime("%m-%d %H:%M"), report.drift_share) for report in reversed(reports)],
            reference=latest.share_threshold if latest else None,
        ),
        "volume_chart": charts.series_chart([(row["hour"].strftime("%m-%d %H:00"), row["n"]) for row in activity]),
        "latency_chart": charts.series_chart(
            [(row["hour"].strftime("%m-%d %H:00"), row["latency_ms"]) for row in activity]
        ),
        "live": live,
        "live_chart": charts.series_chart(
            [(point["date"], point["value"]) for point in live.get("series", [])], reference=live.get("heldout_value")
        ),
        "n_logged": PredictionRecord.objects.filter(registered_model=registered_model).count(),
        "can_report": user_may(
            request.user, registered_model.project, minimum=ProjectRole.EDITOR, capability="models:predict"
        ),
    }
    return render(request, "monitoring/model_monitoring.html", context)


@login_required
@require_POST
def drift_report_page(request, pk: int):
    registered_model = _registered_model(request, pk)
    attempt(
        request,
        lambda: services.drift_report_create(
            registered_model=registered_model, user=request.user, trigger=ReportTrigger.MANUAL
        ),
        success="Drift report made.",
    )
    return redirect("monitoring:model-monitoring", pk=registered_model.pk)
