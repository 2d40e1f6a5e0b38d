"""Session pages of governance: the approvals queue, one approval (checks, history, record), the notifications,
and the forms of the version page's approval panel. They call the same selectors and services as the API."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from apps.core.web import attempt, redirect_back, visible_or_404
from apps.governance import notify, selectors, services
from apps.governance.choices import ApprovalState
from apps.governance.models import Notification
from apps.projects.permissions import projects_visible_to
from apps.registry.models import ModelVersion

MOVES = {
    "start_review": services.approval_request_start_review,
    "start_testing": services.approval_request_start_testing,
    "approve": services.approval_request_approve,
    "reject": services.approval_request_reject,
}


def _approval(request, pk: int):
    return visible_or_404(
        request, selectors.approval_requests_base(), pk, project_field=selectors.PROJECT_FIELD, what="Approval request"
    )


@login_required
@require_GET
def approval_queue(request):
    """Open requests first; filter by state and project."""
    queryset = selectors.approval_requests_visible_to(user=request.user)
    state = request.GET.get("state", "")
    if state in ApprovalState.values:
        queryset = queryset.filter(state=state)
    projects = projects_visible_to(user=request.user).order_by("name")
    project_id = request.GET.get("project", "")
    if project_id.isdigit():
        queryset = queryset.filter(model_version__registered_model__project_id=int(project_id))
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "governance/approval_queue.html",
        {
            "page": page,
            "states": ApprovalState.choices,
            "state": state,
            "projects": projects,
            "project_id": project_id,
        },
    )


@login_required
@require_GET
def approval_detail(request, pk: int):
    approval = _approval(request, pk)
    detail = selectors.approval_detail(request=approval, user=request.user)
    return render(
        request,
        "governance/approval_detail.html",
        {
            "approval": approval,
            "detail": detail,
            "actions": detail["actions"],
            "version": approval.model_version,
            "project": approval.model_version.registered_model.project,
            "can_rerun": approval.state == ApprovalState.TESTING
            and "start_testing" not in detail["actions"]
            and _may_rerun(approval, request.user),
        },
    )


def _may_rerun(approval, user) -> bool:
    from apps.governance import rules
    from apps.governance.choices import ApprovalAction

    try:
        return rules.refusal(approval, user, ApprovalAction.START_TESTING) is None
    except rules.NotVisible:
        return False


@login_required
@require_POST
def approval_move(request, pk: int, action: str):
    approval = _approval(request, pk)
    comment = request.POST.get("comment", "")
    if action == "deploy":
        attempt(
            request,
            lambda: services.approval_request_deploy(request=approval, user=request.user, comment=comment),
            success=f"Version {approval.model_version.version} is in production.",
        )
    elif action == "run_checks":
        attempt(
            request,
            lambda: services.approval_request_rerun_checks(request=approval, user=request.user),
            success="The automatic checks run again; refresh to see their results.",
        )
    elif action in MOVES:
        attempt(
            request,
            lambda: MOVES[action](request=approval, user=request.user, comment=comment),
            success="Done.",
        )
    else:
        raise Http404("No such move.")
    return _back(request, "governance:approval-detail", pk=approval.pk)


def _back(request, fallback: str, **kwargs):
    return redirect_back(request, fallback, **kwargs)


@login_required
@require_POST
def submit_version(request, version_id: int):
    versions = ModelVersion.objects.select_related("registered_model__project", "job")
    version = visible_or_404(request, versions, version_id, project_field="registered_model__project", what="Version")
    attempt(
        request,
        lambda: services.approval_request_submit(
            version=version, user=request.user, comment=request.POST.get("comment", "")
        ),
        success=f"Version {version.version} was submitted for approval.",
    )
    return redirect("registry:model-version-detail", pk=version.pk)


@login_required
@require_GET
def notification_list(request):
    notifications = Paginator(selectors.notifications_of(user=request.user), 50).get_page(request.GET.get("page"))
    return render(request, "governance/notifications.html", {"page": notifications})


@login_required
@require_POST
def notification_read(request, pk: int):
    notification = Notification.objects.filter(pk=pk, user=request.user).first()
    if notification is None:
        raise Http404("Notification not found.")
    notify.notification_mark_read(notification=notification, user=request.user)
    if request.POST.get("open") and url_has_allowed_host_and_scheme(
        notification.url, allowed_hosts={request.get_host()}, require_https=False
    ):
        return redirect(notification.url)
    return redirect("governance:notifications")


@login_required
@require_POST
def notification_read_all(request):
    marked = notify.notifications_mark_all_read(user=request.user)
    messages.success(request, f"{marked} notification(s) marked read.")
    return redirect("governance:notifications")
