"""Explanations of model versions: SHAP global and local, LIME local, with their plots, cached by version,
method, parameters and input rows. The numbers come from ``apps.explain.engine``; this app stores,
schedules (queue ``explain``) and serves them."""
