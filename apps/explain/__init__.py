"""Explanations of model versions (SHAP global and local, LIME local) with their plots. Registered now so its
migrations and permissions have a fixed place; its models, services and API arrive with the explanations work."""
