"""Session pages: the list of projects, a project (datasets, upload, members, a sample dataset in one click) and a
dataset (its columns drawn, profile, preview).

They call the same selectors and services as the API; a domain error becomes a message on the page
(or a 404 for objects of projects the user cannot see).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.roles import has_capability
from apps.core.exceptions import DomainError
from apps.core.web import attempt, visible_or_404
from apps.projects.choices import ProjectRole
from apps.projects.models import Dataset, Project
from apps.projects.permissions import project_role, user_may
from apps.projects.samples import SAMPLES
from apps.projects.selectors import (
    dataset_preview,
    project_members,
    projects_for_user,
)
from apps.projects.services import (
    dataset_create,
    dataset_delete,
    project_create,
    project_delete,
    project_member_remove,
    project_member_upsert,
    project_update,
    sample_dataset_add,
)
from apps.projects.uploads import use_dataset_upload_handler
from apps.projects.web.forms import DatasetUploadForm, MemberForm, ProjectForm


def _visible_project(request, pk) -> Project:
    return visible_or_404(request, Project.objects.select_related("owner"), pk, project_field="", what="Project")


def _visible_dataset(request, pk) -> Dataset:
    datasets = Dataset.objects.select_related("project", "created_by")
    return visible_or_404(request, datasets, pk, project_field="project", what="Dataset")


def _form_errors(request, form) -> None:
    for field, errors in form.errors.items():
        label = (form.fields[field].label or field.capitalize()) if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else error)


def _project_url(project_id) -> str:
    return reverse("projects:project-detail", args=[project_id])


@login_required
@require_GET
def landing(request):
    """Every project the signed-in user may see, and the "new project" form (the dashboard at / shows a few)."""
    return render(
        request,
        "projects/landing.html",
        {
            "projects": projects_for_user(user=request.user),
            "can_create": has_capability(request.user, "projects:create"),
            "form": ProjectForm(),
        },
    )


@login_required
@require_POST
def project_create_page(request):
    form = ProjectForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return redirect("projects:home")
    project = attempt(
        request,
        lambda: project_create(
            owner=request.user, name=form.cleaned_data["name"], description=form.cleaned_data["description"]
        ),
    )
    return redirect(_project_url(project.pk)) if project else redirect("projects:home")


@login_required
@require_GET
def project_detail(request, pk):
    project = _visible_project(request, pk)
    role = project_role(user=request.user, project=project)
    return render(
        request,
        "projects/project_detail.html",
        {
            "project": project,
            "role": role,
            "is_owner": role == ProjectRole.OWNER,
            "can_upload": not project.is_archived
            and user_may(request.user, project, minimum=ProjectRole.EDITOR, capability="datasets:upload"),
            "datasets": project.datasets.select_related("created_by").order_by("-created_at", "-id"),
            "members": project_members(project=project),
            "upload_form": DatasetUploadForm(),
            "member_form": MemberForm(),
            "project_form": ProjectForm(
                prefix="project", initial={"name": project.name, "description": project.description}
            ),
            "max_upload_bytes": settings.DATASET_MAX_UPLOAD_BYTES,
        },
    )


@login_required
@require_POST
def sample_start_page(request):
    """The guided start's one click: a new project holding a sample dataset, then the "new job" form filled in
    with it and its target. Into an existing project (``project`` posted) the sample is only added."""
    sample = SAMPLES.get(request.POST.get("sample", ""))
    if sample is None:
        messages.error(request, f"Choose one of the sample datasets: {', '.join(SAMPLES)}.")
        return redirect("projects:home")
    if request.POST.get("project", "").isdigit():
        project = _visible_project(request, request.POST["project"])
    else:
        project = attempt(
            request,
            lambda: project_create(
                owner=request.user,
                name=_free_project_name(request.user, f"{sample.title} sample"),
                description=f"Made from the sample dataset {sample.filename}: {sample.description}",
            ),
        )
        if not project:
            return redirect("projects:home")
    dataset = attempt(request, lambda: sample_dataset_add(user=request.user, project=project, sample=sample.key))
    if not dataset:
        return redirect(_project_url(project.pk))
    messages.success(
        request,
        f"Sample dataset '{dataset.name}' added: {dataset.n_rows} rows. Its target column is {sample.target}; "
        "start training below.",
    )
    jobs_url = reverse("automl:project-jobs", args=[project.pk])
    return HttpResponseRedirect(f"{jobs_url}?dataset={dataset.pk}&target={sample.target}#new-job")


def _free_project_name(owner, base: str) -> str:
    """``base``, or ``base 2``, ``base 3``... the first name ``owner`` has no project under."""
    taken = set(Project.objects.filter(owner=owner, name__startswith=base).values_list("name", flat=True))
    if base not in taken:
        return base
    return next(f"{base} {n}" for n in range(2, len(taken) + 3) if f"{base} {n}" not in taken)


@login_required
@require_POST
def project_edit_page(request, pk):
    project = _visible_project(request, pk)
    if "is_archived" in request.POST:
        archive = request.POST["is_archived"] == "true"
        attempt(
            request,
            lambda: project_update(user=request.user, project=project, is_archived=archive),
            success="Project archived." if archive else "Project unarchived.",
        )
        return redirect(_project_url(pk))
    form = ProjectForm(request.POST, prefix="project")
    if form.is_valid():
        attempt(
            request,
            lambda: project_update(user=request.user, project=project, **form.cleaned_data),
            success="Project saved.",
        )
    else:
        _form_errors(request, form)
    return redirect(_project_url(pk))


@login_required
@require_POST
def project_delete_page(request, pk):
    project = _visible_project(request, pk)
    if attempt(request, lambda: project_delete(user=request.user, project=project), success="Project deleted."):
        return redirect("projects:home")
    return redirect(_project_url(pk))


@csrf_exempt
@login_required
@require_POST
def dataset_upload_page(request, pk):
    """Stream the upload through DatasetUploadHandler: it must be installed before the CSRF check reads the body."""
    use_dataset_upload_handler(request)
    try:
        return _dataset_upload_checked(request, pk)
    except DomainError as exc:  # raised while the body streams in (e.g. too large)
        messages.error(request, exc.message)
        return HttpResponseRedirect(_project_url(pk))


@csrf_protect
def _dataset_upload_checked(request, pk):
    project = _visible_project(request, pk)
    form = DatasetUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        _form_errors(request, form)
        return redirect(_project_url(pk))
    dataset = attempt(
        request,
        lambda: dataset_create(
            user=request.user, project=project, name=form.cleaned_data["name"], file=form.cleaned_data["file"]
        ),
    )
    if dataset:
        messages.success(
            request, f"Dataset '{dataset.name}' uploaded: {dataset.n_rows} rows, {dataset.n_columns} columns."
        )
        return redirect("projects:dataset-detail", pk=dataset.pk)
    return redirect(_project_url(pk))


@login_required
@require_POST
def member_save_page(request, pk):
    project = _visible_project(request, pk)
    form = MemberForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return redirect(_project_url(pk))
    user = get_user_model().objects.filter(username=form.cleaned_data["username"], is_active=True).first()
    if user is None:
        messages.error(request, f"No active user is named '{form.cleaned_data['username']}'.")
        return redirect(_project_url(pk))
    attempt(
        request,
        lambda: project_member_upsert(actor=request.user, project=project, user=user, role=form.cleaned_data["role"]),
        success=f"{user.username} is now {form.cleaned_data['role']}.",
    )
    return redirect(_project_url(pk))


@login_required
@require_POST
def member_remove_page(request, pk, user_id):
    project = _visible_project(request, pk)
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise Http404("No such user.")
    removed = attempt(
        request,
        lambda: project_member_remove(actor=request.user, project=project, user=user),
        success=f"{user.username} left the project.",
    )
    if removed and user.pk == request.user.pk:
        return redirect("projects:home")
    return redirect(_project_url(pk))


@login_required
@require_GET
def dataset_detail(request, pk):
    dataset = _visible_dataset(request, pk)
    preview, preview_error = None, None
    try:
        preview = dataset_preview(dataset=dataset, rows=settings.DATASET_PREVIEW_DEFAULT_ROWS)
    except DomainError as exc:
        preview_error = exc.message
    return render(
        request,
        "projects/dataset_detail.html",
        {
            "dataset": dataset,
            "project": dataset.project,
            "profile_columns": dataset.profile.get("columns", dataset.columns),
            "preview": preview,
            "preview_rows": [[row[column] for column in preview["columns"]] for row in preview["rows"]]
            if preview
            else [],
            "preview_error": preview_error,
            "can_delete": user_may(
                request.user, dataset.project, minimum=ProjectRole.EDITOR, capability="datasets:delete"
            ),
            "can_train": not dataset.project.is_archived
            and user_may(request.user, dataset.project, minimum=ProjectRole.EDITOR, capability="automl:run"),
        },
    )


@login_required
@require_POST
def dataset_delete_page(request, pk):
    dataset = _visible_dataset(request, pk)
    project_id = dataset.project_id
    deleted = attempt(
        request,
        lambda: dataset_delete(user=request.user, dataset=dataset),
        success=f"Dataset '{dataset.name}' deleted.",
    )
    if deleted:
        return redirect(_project_url(project_id))
    return redirect("projects:dataset-detail", pk=pk)
