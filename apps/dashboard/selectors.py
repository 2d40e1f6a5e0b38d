"""What the dashboard shows a signed-in user, read through each app's own selectors (the dashboard sits above
every app: it only reads)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apps.automl.models import ACTIVE_STATES
from apps.automl.selectors import training_jobs_visible_to
from apps.governance.choices import OPEN_STATES
from apps.governance.selectors import approval_requests_visible_to, available_actions, notifications_of
from apps.projects.selectors import projects_for_user
from apps.registry.selectors import registered_models_visible_to

if TYPE_CHECKING:
    from apps.accounts.models import User

PROJECTS_SHOWN = 12
JOBS_SHOWN = 8
MODELS_SHOWN = 10
APPROVALS_SCANNED = 50
APPROVALS_SHOWN = 10
NOTIFICATIONS_SHOWN = 5


def dashboard_for(*, user: User) -> dict[str, Any]:
    """The user's projects, running and recent jobs, production models, approvals they can act on now and
    unread notifications."""
    projects = list(projects_for_user(user=user)[: PROJECTS_SHOWN + 1])
    jobs = (
        training_jobs_visible_to(user=user)
        .select_related("project", "dataset", "created_by")
        .defer("leaderboard", "metrics", "evaluation", "features", "timings", "split", "class_labels")
    )
    open_requests = approval_requests_visible_to(user=user).filter(state__in=OPEN_STATES)[:APPROVALS_SCANNED]
    waiting = []
    for request in open_requests:
        actions = available_actions(request=request, user=user)
        if actions:
            waiting.append({"request": request, "actions": actions})
        if len(waiting) >= APPROVALS_SHOWN:
            break
    unread = notifications_of(user=user).filter(read_at__isnull=True).order_by("-created_at")
    return {
        "projects": projects[:PROJECTS_SHOWN],
        "more_projects": len(projects) > PROJECTS_SHOWN,
        "active_jobs": list(jobs.filter(status__in=ACTIVE_STATES)[:JOBS_SHOWN]),
        "recent_jobs": list(jobs.exclude(status__in=ACTIVE_STATES)[:JOBS_SHOWN]),
        "production_models": list(
            registered_models_visible_to(user=user).filter(production_version__isnull=False)[:MODELS_SHOWN]
        ),
        "waiting_approvals": waiting,
        "unread_notifications_list": list(unread[:NOTIFICATIONS_SHOWN]),
    }
