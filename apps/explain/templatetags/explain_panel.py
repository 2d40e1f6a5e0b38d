"""``{% explain_panel version request.user %}``: the explanations section of a model version's page."""

from __future__ import annotations

import json

from django import template

from apps.core.models import WorkStatus
from apps.explain.api.serializers import plot_urls
from apps.explain.engine import ranked
from apps.explain.selectors import latest_global_explanation, training_row

register = template.Library()


@register.inclusion_tag("explain/_version_panel.html")
def explain_panel(version) -> dict:
    explanation = latest_global_explanation(version=version)
    result = (explanation.result or {}) if explanation else {}
    importances = list(ranked(result.get("feature_importances")).items())[:10]
    try:
        example = training_row(version=version, index=0) or {}
    except Exception:  # noqa: BLE001 - the dataset file may be gone; the form starts empty then
        example = {}
    return {
        "version": version,
        "explanation": explanation,
        "succeeded": bool(explanation and explanation.status == WorkStatus.SUCCEEDED),
        "plot_urls": plot_urls(explanation) if explanation else {},
        "importances": importances,
        "produced_by": {key: result.get(key) for key in ("explainer", "background_size", "sample_size", "seed")},
        "permutation": ((result.get("permutation_importance") or {}).get("importances") or {}),
        "example_json": json.dumps([example], indent=1, default=str),
    }
