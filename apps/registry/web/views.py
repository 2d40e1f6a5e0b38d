"""Session pages of the registry: a project's models, a registered model (versions, deployments, rollback)
and a model version (its card, deploy, a prediction form, batch predictions).

They call the same selectors and services as the API; a domain error becomes a message on the page,
objects of projects the user cannot see are 404s.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from apps.core.exceptions import DomainError
from apps.core.web import attempt, visible_or_404
from apps.projects.choices import ProjectRole
from apps.projects.models import Project
from apps.projects.permissions import user_may
from apps.projects.selectors import datasets_visible_to
from apps.registry import hooks, selectors, services
from apps.registry.cards import card_template_context
from apps.registry.hooks import approval_for
from apps.registry.models import ModelVersion, RegisteredModel
from apps.registry.web.plots import evaluation_plot_svg, evaluation_plots


def _may(user, project, capability: str) -> bool:
    return user_may(user, project, minimum=ProjectRole.EDITOR, capability=capability)


def _may_deploy(user, project, version: ModelVersion | None = None) -> bool:
    """Whether to offer a deploy button: the registry's rule, or the deploy rule registered from above
    (governance) — who may deploy in the project at all, and for a version, whether its approval allows it."""
    authorizer = hooks.deploy_authorizer()
    if authorizer is None:
        return _may(user, project, "models:deploy")
    try:
        authorizer.check_actor(project=project, user=user)
    except DomainError:
        return False
    return version is None or hooks.approval_for(version).deployable


def _version(request, pk: int) -> ModelVersion:
    versions = ModelVersion.objects.select_related(
        "registered_model", "registered_model__project", "dataset", "job", "created_by"
    )
    return visible_or_404(request, versions, pk, project_field="registered_model__project", what="Model version")


def _registered_model(request, pk: int) -> RegisteredModel:
    return visible_or_404(
        request, selectors.registered_models_visible_to(user=request.user), pk, project_field="project", what="Model"
    )


@login_required
@require_GET
def project_models(request, pk: int):
    project = visible_or_404(request, Project.objects.all(), pk, project_field="", what="Project")
    registered_models = selectors.registered_models_visible_to(user=request.user, project_id=project.pk)
    return render(request, "registry/project_models.html", {"project": project, "registered_models": registered_models})


@login_required
@require_GET
def registered_model_detail(request, pk: int):
    registered_model = _registered_model(request, pk)
    project: Project = registered_model.project
    deployments = registered_model.deployments.select_related("model_version", "previous_version", "deployed_by")
    return render(
        request,
        "registry/registered_model_detail.html",
        {
            "registered_model": registered_model,
            "project": project,
            "versions": registered_model.versions.all(),
            "deployments": deployments,
            "rollback_target": selectors.rollback_target(registered_model=registered_model),
            "can_deploy": _may_deploy(request.user, project),
        },
    )


@login_required
@require_GET
def model_version_detail(request, pk: int):
    version = services.model_card_refresh(version=_version(request, pk))
    project = version.registered_model.project
    datasets = datasets_visible_to(user=request.user).filter(project=project).order_by("-created_at")
    return render(
        request,
        "registry/model_version_detail.html",
        {
            "version": version,
            "registered_model": version.registered_model,
            "project": project,
            **card_template_context(version.card),
            "approval_state": approval_for(version).state,
            "evaluation": version.evaluation or {},
            "evaluation_plots": evaluation_plots(version.evaluation or {}),
            "is_production": version.registered_model.production_version_id == version.pk,
            "batches": version.batch_predictions.select_related("dataset")[:20],
            "datasets": datasets,
            "example_json": json.dumps([{feature["name"]: None for feature in version.features}], indent=1),
            "can_edit": _may(request.user, project, "models:edit"),
            "can_deploy": _may_deploy(request.user, project, version),
            "can_batch": _may(request.user, project, "models:predict"),
        },
    )


@login_required
@require_POST
def model_version_deploy_page(request, pk: int):
    version = _version(request, pk)
    attempt(
        request,
        lambda: services.model_version_deploy(
            version=version, user=request.user, comment=request.POST.get("comment", "")
        ),
        success=f"Version {version.version} is now the production version of {version.registered_model.name}.",
    )
    return redirect("registry:model-version-detail", pk=version.pk)


@login_required
@require_POST
def registered_model_rollback_page(request, pk: int):
    registered_model = _registered_model(request, pk)
    attempt(
        request,
        lambda: services.registered_model_rollback(
            registered_model=registered_model, user=request.user, comment=request.POST.get("comment", "")
        ),
        success=f"{registered_model.name} was rolled back to its previous production version.",
    )
    return redirect("registry:registered-model-detail", pk=registered_model.pk)


@login_required
@require_POST
def model_version_card_edit_page(request, pk: int):
    version = _version(request, pk)
    attempt(
        request,
        lambda: services.model_version_update(
            version=version,
            user=request.user,
            intended_use=request.POST.get("intended_use"),
            limitations=request.POST.get("limitations"),
        ),
        success="The model card was updated.",
    )
    return redirect("registry:model-version-detail", pk=version.pk)


@login_required
@require_POST
def model_version_batch_page(request, pk: int):
    version = _version(request, pk)
    try:
        dataset_id = int(request.POST.get("dataset_id", ""))
    except ValueError:
        messages.error(request, "Choose a dataset.")
        return redirect("registry:model-version-detail", pk=version.pk)
    dataset = datasets_visible_to(user=request.user).filter(pk=dataset_id).first()
    if dataset is None:
        messages.error(request, "That dataset is not in your projects.")
        return redirect("registry:model-version-detail", pk=version.pk)
    attempt(
        request,
        lambda: services.batch_prediction_create(version=version, dataset=dataset, user=request.user),
        success=f"Batch prediction of {dataset.name} queued; refresh this page to see it finish.",
    )
    return redirect("registry:model-version-detail", pk=version.pk)


@login_required
@require_GET
@cache_control(private=True, max_age=3600)
def model_version_evaluation_plot(request, pk: int, name: str):
    """One evaluation plot of a version as SVG, drawn from the evaluation stored at training time."""
    version = _version(request, pk)
    svg = evaluation_plot_svg(version.evaluation or {}, name)
    if svg is None:
        raise Http404("This version has no such plot.")
    return HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
