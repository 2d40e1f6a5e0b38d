"""Session pages' side of explanations: asking for a version's global explanation again (after one failed, or for a
version that never had one), from its page or from an approval whose explanation check failed."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_POST

from apps.core.models import WorkStatus
from apps.core.web import attempt, redirect_back, visible_or_404
from apps.explain import services
from apps.explain.choices import ExplanationMethod
from apps.registry.models import ModelVersion


@login_required
@require_POST
def explain_version(request, pk: int):
    """Queue the version's global explanation (the one already on its way, or made, is kept), then back to the
    page the form was on."""
    versions = ModelVersion.objects.select_related("registered_model__project", "dataset", "job")
    version = visible_or_404(request, versions, pk, project_field="registered_model__project", what="Model version")

    def ask():
        explanation, _cached = services.explanation_ask(
            user=request.user, version=version, method=ExplanationMethod.SHAP_GLOBAL
        )
        return explanation

    explanation = attempt(request, ask)
    if explanation is not None:
        if explanation.status == WorkStatus.SUCCEEDED:
            messages.info(request, "This version's global explanation is already made.")
        else:
            messages.success(request, f"The global explanation #{explanation.pk} is {explanation.status}.")
    return redirect_back(request, "registry:model-version-detail", pk=version.pk)
