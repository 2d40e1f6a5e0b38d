"""The explanation engine: SHAP (global and local), LIME (local) and permutation importance for an AutoGluon
``TabularPredictor``, in bounded time and in pure Python (no Django), for the ``explain`` app to wrap.

Every explanation is model-agnostic: it explains what the predictor as a whole answers (usually a weighted
ensemble), through ``predict_proba`` for classification and ``predict`` for regression, never one inner model.

- :mod:`~apps.explain.engine.adapter`: the predictor as a function of a float matrix (user columns encoded);
- :mod:`~apps.explain.engine.budget`: what a model call costs, and the largest explanation that fits a budget;
- :mod:`~apps.explain.engine.rows`: SHAP values row by row, Exact or Permutation, on several threads;
- :mod:`~apps.explain.engine.shap_explainer`: global and local SHAP results;
- :mod:`~apps.explain.engine.precision`: standard errors and rank stability of global importances;
- :mod:`~apps.explain.engine.global_explanation`: SHAP and permutation importance in one budget;
- :mod:`~apps.explain.engine.lime_explainer`, :mod:`~apps.explain.engine.permutation`: LIME, AutoGluon's
  permutation importance;
- :mod:`~apps.explain.engine.warm`: shap's compiled code, compiled before the first explanation needs it.
"""

from apps.explain.engine.adapter import FeatureCodec, ModelAdapter
from apps.explain.engine.budget import (
    BudgetTooSmall,
    Config,
    CostModel,
    Plan,
    available_cores,
    least_global_seconds,
)
from apps.explain.engine.common import (
    CATEGORICAL,
    DATETIME,
    DEFAULT_EXACT_MAX_FEATURES,
    DEFAULT_PERMUTATION_EVALS,
    EXACT,
    NUMERIC,
    PERMUTATION,
    PROBLEM_TYPES,
    feature_frame,
    feature_kind,
    library_versions,
    plain,
    ranked,
    sample_background,
    seeded_global_numpy,
)
from apps.explain.engine.global_explanation import GlobalExplanation, explain_global
from apps.explain.engine.lime_explainer import LimeResult, LimeRow, lime_local, lime_seconds
from apps.explain.engine.permutation import PermutationImportanceResult, permutation_importance
from apps.explain.engine.shap_explainer import (
    GlobalShapJob,
    GlobalShapResult,
    LocalShapResult,
    ShapProvenance,
    ShapRun,
    choose_explainer,
    cost_of,
    cost_of_predictor,
    local_job,
    shap_global,
    shap_local,
)

__all__ = [
    "CATEGORICAL",
    "DATETIME",
    "DEFAULT_EXACT_MAX_FEATURES",
    "DEFAULT_PERMUTATION_EVALS",
    "EXACT",
    "NUMERIC",
    "PERMUTATION",
    "PROBLEM_TYPES",
    "BudgetTooSmall",
    "Config",
    "CostModel",
    "FeatureCodec",
    "GlobalExplanation",
    "GlobalShapJob",
    "GlobalShapResult",
    "LimeResult",
    "LimeRow",
    "LocalShapResult",
    "ModelAdapter",
    "PermutationImportanceResult",
    "Plan",
    "ShapProvenance",
    "ShapRun",
    "available_cores",
    "choose_explainer",
    "cost_of",
    "cost_of_predictor",
    "least_global_seconds",
    "explain_global",
    "feature_frame",
    "feature_kind",
    "library_versions",
    "lime_local",
    "lime_seconds",
    "local_job",
    "permutation_importance",
    "plain",
    "ranked",
    "sample_background",
    "seeded_global_numpy",
    "shap_global",
    "shap_local",
]
