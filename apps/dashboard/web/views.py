"""The page at ``/``: a signed-in user's dashboard, with a guided start for someone who has no project yet."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.accounts.roles import has_capability
from apps.dashboard.selectors import dashboard_for
from apps.projects.samples import SAMPLES
from apps.projects.web.forms import ProjectForm


@require_GET
def dashboard(request):
    """Projects, jobs with progress, production models, approvals waiting, unread notifications; anonymous
    visitors are invited to sign in."""
    if not request.user.is_authenticated:
        return render(request, "dashboard/dashboard.html", {"login_url": settings.LOGIN_URL})
    context = dashboard_for(user=request.user)
    context.update(
        can_create=has_capability(request.user, "projects:create"),
        form=ProjectForm(),
        samples=list(SAMPLES.values()),
    )
    return render(request, "dashboard/dashboard.html", context)
