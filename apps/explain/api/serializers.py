from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from apps.core.models import WorkStatus
from apps.explain.choices import PLOTS, ExplanationMethod
from apps.explain.engine import ranked
from apps.explain.models import Explanation


class ShapRequestSerializer(serializers.Serializer):
    model_id = serializers.IntegerField(min_value=1)
    explanation_type = serializers.ChoiceField(choices=["global", "local"], default="global")
    instance_data = serializers.ListField(child=serializers.DictField(), required=False, allow_empty=False)
    background_size = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    sample_size = serializers.IntegerField(required=False, min_value=1, max_value=5000)
    max_evals = serializers.IntegerField(required=False, min_value=10, max_value=200_000)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    budget_s = serializers.FloatField(
        required=False,
        min_value=0.1,
        help_text="Seconds the explanation may take (default: EXPLAIN_GLOBAL_BUDGET_S for global, "
        "EXPLAIN_LOCAL_BUDGET_S a row for local); parameters not named here are shrunk to fit.",
    )

    def validate_budget_s(self, value: float) -> float:
        return _budget(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["explanation_type"] == "local" and not attrs.get("instance_data"):
            raise serializers.ValidationError(
                {"instance_data": ["A local explanation needs instance_data: the rows to explain."]}
            )
        return attrs


def _budget(value: float) -> float:
    if value > settings.EXPLAIN_MAX_BUDGET_S:
        raise serializers.ValidationError(f"At most {settings.EXPLAIN_MAX_BUDGET_S:g} seconds.")
    return value


class LimeRequestSerializer(serializers.Serializer):
    model_id = serializers.IntegerField(min_value=1)
    instance_data = serializers.ListField(child=serializers.DictField(), allow_empty=False)
    num_samples = serializers.IntegerField(required=False, min_value=100)
    random_state = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    num_features = serializers.IntegerField(required=False, min_value=1, max_value=200)

    def validate_num_samples(self, value: int) -> int:
        if value > settings.EXPLAIN_LIME_MAX_SAMPLES:
            raise serializers.ValidationError(f"At most {settings.EXPLAIN_LIME_MAX_SAMPLES} samples.")
        return value


class ExplanationQueuedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


class ExplanationFilter(serializers.Serializer):
    model_id = serializers.IntegerField(required=False, min_value=1, source="model_version_id")
    method = serializers.ChoiceField(choices=ExplanationMethod.choices, required=False)


def plot_urls(explanation: Explanation, request=None) -> dict[str, str]:
    """URLs of the explanation's plots, served by an endpoint that checks project access (never a storage
    URL); local plots are drawn when first fetched."""
    urls = {}
    names = PLOTS[explanation.method] if explanation.status == WorkStatus.SUCCEEDED else explanation.plots or {}
    for name in names:
        path = reverse("api-v1:explanation-plot", kwargs={"pk": explanation.pk, "name": name})
        urls[name] = request.build_absolute_uri(path) if request is not None else path
    return urls


def shap_produced_by(result: dict[str, Any]) -> dict[str, Any]:
    """What produced a SHAP result: explainer, sizes, evaluations, seed, versions, and what the budget chose and
    why (``plan``; for a global explanation also each phase's seconds, in ``budget``)."""
    produced_by = {
        key: result.get(key)
        for key in ("explainer", "background_size", "sample_size", "max_evals", "seed", "output_name", "versions")
        if key in result
    }
    produced_by["background"] = (
        f"the first {result.get('background_size')} rows of a seeded sample of the training data (shap.sample, "
        f"seed {result.get('seed')})"
    )
    plan = result.get("plan")
    if plan:
        produced_by["plan"] = plan
        produced_by["reason"] = plan.get("reason")
    if result.get("budget"):
        produced_by["budget"] = result["budget"]
    return produced_by


def explanation_data(explanation: Explanation, request=None, *, cached: bool = False) -> dict[str, Any]:
    """What the API answers for an explanation: the contract's fields, and which explainer, background
    and budget produced the numbers."""
    result = explanation.result or {}
    body: dict[str, Any] = {
        "id": explanation.pk,
        "model_id": explanation.model_version_id,
        "method": explanation.method,
        "explanation_type": "global" if explanation.method == ExplanationMethod.SHAP_GLOBAL else "local",
        "status": explanation.status,
        "progress": explanation.progress,
        "error": explanation.error,
        "cached": cached,
        "params": explanation.params,
        "created_at": explanation.created_at,
        "finished_at": explanation.finished_at,
        "elapsed_seconds": explanation.elapsed_seconds,
        "eta": explanation.eta_at if explanation.is_active else None,
        "budget_s": result.get("budget_s", (explanation.params or {}).get("budget_s")),
        "plot_urls": plot_urls(explanation, request),
    }
    if explanation.status != WorkStatus.SUCCEEDED:
        return body
    produced_by = shap_produced_by(result)
    if explanation.method == ExplanationMethod.SHAP_GLOBAL:
        body.update(
            feature_importances=ranked(result.get("feature_importances")),
            standard_errors=result.get("standard_errors"),
            rank_stability=result.get("rank_stability"),
            importance_aggregation=result.get("importance_aggregation"),
            class_importances={
                label: ranked(values) for label, values in (result.get("class_importances") or {}).items()
            }
            or None,
            shap_values=result.get("shap_values"),
            base_value=result.get("base_value"),
            feature_names=result.get("feature_names"),
            explained_rows=result.get("row_index"),
            permutation_importance=result.get("permutation_importance"),
            additivity_max_error=result.get("additivity_max_error"),
            produced_by=produced_by,
        )
    elif explanation.method == ExplanationMethod.SHAP_LOCAL:
        rows = result.get("rows") or []
        body.update(
            feature_names=result.get("feature_names"),
            shap_values=[row["values"] for row in rows],
            base_value=result.get("base_value"),
            feature_importances=dict(zip(result.get("feature_names") or [], rows[0]["values"], strict=True))
            if rows
            else {},
            rows=rows,
            instance_ids=explanation.row_index or None,
            additivity_max_error=result.get("additivity_max_error"),
            produced_by=produced_by,
        )
    else:
        rows = result.get("rows") or []
        first = rows[0] if rows else {}
        body.update(
            feature_weights=first.get("feature_weights"),
            prediction=first.get("prediction"),
            probabilities=first.get("probabilities"),
            explained_class=first.get("explained_class"),
            plot_url=body["plot_urls"].get("lime"),
            rows=rows,
            produced_by={
                "explainer": "lime.LimeTabularExplainer",
                "num_samples": result.get("num_samples"),
                "random_state": result.get("random_state"),
                "num_features": result.get("num_features"),
                "training_rows": result.get("training_rows"),
                "versions": result.get("versions"),
            },
        )
    return body


class LocalQuerySerializer(serializers.Serializer):
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    background_size = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    budget_s = serializers.FloatField(required=False, min_value=0.1)

    def validate_budget_s(self, value: float) -> float:
        return _budget(value)
