"""Session pages: a project's AutoML jobs with the "new job" form, and one job's progress and leaderboard.

They call the same selectors and services as the API; the job page refreshes itself from the API
(``static/js/automl.js``) while the job is queued or running.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from apps.automl.choices import TERMINAL_STATES
from apps.automl.models import ACTIVE_STATES, TrainingJob
from apps.automl.selectors import training_job_model_version_id, training_jobs_visible_to
from apps.automl.services import training_job_cancel, training_job_create
from apps.automl.web.forms import TrainingJobForm
from apps.core.exceptions import DomainError, NotFound
from apps.core.ratelimit import setting_rate
from apps.core.web import attempt, visible_or_404
from apps.projects.choices import ProjectRole
from apps.projects.models import Project
from apps.projects.permissions import user_may


def _can_run(user, project: Project) -> bool:
    return not project.is_archived and user_may(user, project, minimum=ProjectRole.EDITOR, capability="automl:run")


@login_required
@require_http_methods(["GET", "POST"])
def project_jobs(request, pk: int):
    """A project's jobs, newest first, and the form to start one."""
    project = visible_or_404(request, Project.objects.all(), pk, project_field="", what="Project")
    datasets = list(project.datasets.order_by("name"))
    can_run = _can_run(request.user, project)
    chosen = request.GET.get("dataset", "")
    form = TrainingJobForm(
        request.POST or None,
        datasets=datasets,
        initial={"dataset": int(chosen) if chosen.isdigit() else None, "target": request.GET.get("target", "")},
    )
    status = 200
    if request.method == "POST":
        if not can_run:
            messages.error(request, "You cannot start jobs in this project.")
            status = 403
        elif is_ratelimited(
            request,
            group="automl-jobs",
            key="user",
            rate=setting_rate("RATELIMIT_AUTOML_JOBS"),
            increment=True,
        ):
            messages.error(request, "You started too many jobs recently; try again later.")
            status = 429
        elif form.is_valid():
            data = dict(form.cleaned_data)
            dataset = next(item for item in datasets if item.pk == data.pop("dataset"))
            try:
                job = training_job_create(user=request.user, dataset=dataset, **data)
            except NotFound:
                raise Http404("Not found.") from None
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                status = 400
            else:
                messages.success(request, f"Job {job.pk} is queued.")
                return redirect("automl:job-detail", pk=job.pk)
        else:
            status = 400
    jobs = training_jobs_visible_to(user=request.user).filter(project=project)[:100]
    context = {
        "project": project,
        "jobs": jobs,
        "form": form,
        "can_run": can_run,
        "dataset_columns": {
            dataset.pk: [column.get("name") for column in dataset.columns or []] for dataset in datasets
        },
    }
    return render(request, "automl/project_jobs.html", context, status=status)


@login_required
@require_GET
def job_detail(request, pk: int):
    """A job's state, progress (refreshed by the page's script), leaderboard and history."""
    job = visible_or_404(
        request, TrainingJob.objects.select_related("project"), pk, project_field="project", what="Job"
    )
    context = {
        "job": job,
        "active": job.status in ACTIVE_STATES,
        "finished": job.status in TERMINAL_STATES,
        "can_cancel": job.status in ACTIVE_STATES
        and user_may(request.user, job.project, minimum=ProjectRole.EDITOR, capability="automl:cancel"),
        "events": job.events.select_related("by"),
        "model_version_id": training_job_model_version_id(job=job),
    }
    return render(request, "automl/job_detail.html", context)


@login_required
@require_POST
def job_cancel(request, pk: int):
    job = visible_or_404(
        request, TrainingJob.objects.select_related("project"), pk, project_field="project", what="Job"
    )
    attempt(
        request,
        lambda: training_job_cancel(job=job, user=request.user),
        success="Cancel requested; the job stops within seconds.",
    )
    return redirect("automl:job-detail", pk=job.pk)
