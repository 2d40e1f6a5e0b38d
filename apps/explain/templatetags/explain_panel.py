"""``{% explain_panel version %}``: the explanations section of a model version's page."""

from __future__ import annotations

import json

from django import template

from apps.core.models import WorkStatus
from apps.explain.api.serializers import plot_urls
from apps.explain.engine import ranked
from apps.explain.selectors import latest_failed_global_explanation, latest_global_explanation, training_row
from apps.registry.cards import importance_bars

register = template.Library()


@register.inclusion_tag("explain/_version_panel.html", takes_context=True)
def explain_panel(context, version) -> dict:
    explanation = latest_global_explanation(version=version)
    failed = None if explanation is not None else latest_failed_global_explanation(version=version)
    request = context.get("request")
    result = (explanation.result or {}) if explanation else {}
    importances = list(ranked(result.get("feature_importances")).items())[:10]
    errors = result.get("standard_errors") or {}
    stability = result.get("rank_stability") or {}
    ranks = stability.get("features") or {}
    rows = [
        {"feature": name, "importance": value, "standard_error": errors.get(name), "rank": ranks.get(name)}
        for name, value in importances
    ]
    try:
        example = training_row(version=version, index=0) or {}
    except Exception:  # noqa: BLE001 - the dataset file may be gone; the form starts empty then
        example = {}
    return {
        "version": version,
        "explanation": explanation,
        "failed": failed,
        "request_path": request.path if request is not None else "",
        "csrf_token": context.get("csrf_token"),
        "succeeded": bool(explanation and explanation.status == WorkStatus.SUCCEEDED),
        "plot_urls": plot_urls(explanation) if explanation else {},
        "importances": rows,
        "chart": importance_bars(rows),
        "stability": stability,
        "produced_by": {key: result.get(key) for key in ("explainer", "background_size", "sample_size", "seed")},
        "reason": (result.get("plan") or {}).get("reason"),
        "permutation": ((result.get("permutation_importance") or {}).get("importances") or {}),
        "example_json": json.dumps([example], indent=1, default=str),
    }
