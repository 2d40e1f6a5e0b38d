"""Reads of governance, narrowed to what the requesting user may see: the approvals queue, a request's history and
whether its hash chain holds, the approval record, policies, notifications, and the registry's approval provider."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Case, F, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.utils import timezone
from django_fsm import can_proceed

from apps.governance import rules
from apps.governance.choices import DEPLOYABLE_STATES, OPEN_STATES, ApprovalAction, ApprovalState
from apps.governance.hashchain import ChainReport, verify_chain
from apps.governance.models import ApprovalEvent, ApprovalPolicy, ApprovalRequest, Notification
from apps.projects.permissions import scope_to_visible_projects
from apps.registry import hooks

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.projects.models import Project
    from apps.registry.models import ModelVersion

PROJECT_FIELD = "model_version__registered_model__project"


# ---------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------
def approval_requests_base() -> QuerySet[ApprovalRequest]:
    return ApprovalRequest.objects.select_related(
        "model_version__registered_model__project", "model_version__job", "submitted_by"
    )


def pending_first(queryset: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
    """Open requests first, the longest-waiting at the top; then approved ones; then the rest, newest first."""
    return queryset.annotate(
        queue_rank=Case(
            When(state__in=OPEN_STATES, then=Value(0)),
            When(state=ApprovalState.APPROVED, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        ),
        waiting_since=Case(When(state__in=OPEN_STATES, then=F("created_at")), default=None),
    ).order_by("queue_rank", F("waiting_since").asc(nulls_last=True), "-created_at", "-id")


def approval_requests_visible_to(*, user: User) -> QuerySet[ApprovalRequest]:
    """Approval requests of the projects ``user`` may see, pending first."""
    return pending_first(scope_to_visible_projects(approval_requests_base(), user=user, project_field=PROJECT_FIELD))


def latest_request_of(*, version: ModelVersion) -> ApprovalRequest | None:
    return version.approval_requests.order_by("-created_at", "-id").first()


def history_rows(*, request: ApprovalRequest) -> list[dict[str, Any]]:
    """``[{from, to, by, at, comment, action, checks, sequence, hash, previous_hash}]``, oldest first."""
    return [event_data(event) for event in request.events.order_by("sequence")]


def event_data(event: ApprovalEvent) -> dict[str, Any]:
    return {
        "sequence": event.sequence,
        "action": event.action,
        "from": event.from_state or None,
        "to": event.to_state,
        "by": event.by_username or None,
        "at": event.at.isoformat(),
        "comment": event.comment,
        "checks": event.checks,
        "previous_hash": event.previous_hash,
        "hash": event.hash,
    }


def history_verify(*, request: ApprovalRequest) -> ChainReport:
    """Whether ``request``'s history is intact: every row's hash, the links between rows, and the head."""
    rows = ((event.content(), event.previous_hash, event.hash) for event in request.events.order_by("sequence"))
    return verify_chain(rows, expected_head=request.history_head)


def chain_data(report: ChainReport, *, head: str) -> dict[str, Any]:
    return {
        "verified": report.ok,
        "length": report.length,
        "broken_at": report.broken_at,
        "reason": report.reason,
        "head": head,
    }


def approval_policy_for(*, project: Project) -> ApprovalPolicy:
    """The project's policy, or the defaults (unsaved) when it never set one."""
    policy = ApprovalPolicy.objects.filter(project=project).first()
    return policy if policy is not None else ApprovalPolicy(project=project)


def effective_reminder_days(policy: ApprovalPolicy) -> int:
    return policy.reminder_days if policy.reminder_days is not None else settings.GOVERNANCE_REMINDER_DAYS


UI_ACTIONS = [
    (ApprovalAction.START_REVIEW, "start_review"),
    (ApprovalAction.START_TESTING, "start_testing"),
    (ApprovalAction.APPROVE, "approve"),
    (ApprovalAction.REJECT, "reject"),
    (ApprovalAction.DEPLOY, "deploy"),
]


def available_actions(*, request: ApprovalRequest, user: User) -> list[str]:
    """The moves ``user`` may make on ``request`` now (for the buttons a page shows): allowed for them, possible
    from this state, with its conditions met (approve waits for the checks) and not already voted."""
    actions = []
    for action, attribute in UI_ACTIONS:
        try:
            if rules.refusal(request, user, action):
                continue
        except rules.NotVisible:
            return []
        if not can_proceed(getattr(request, attribute)):
            continue
        if action == ApprovalAction.APPROVE and request.votes.filter(user=user).exists():
            continue
        actions.append(str(action))
    return actions


def approval_detail(*, request: ApprovalRequest, user: User | None = None) -> dict[str, Any]:
    """What ``GET approvals/{id}`` answers."""
    version = request.model_version
    registered_model = version.registered_model
    report = history_verify(request=request)
    votes = list(request.votes.select_related("user"))
    data = {
        "id": request.pk,
        "state": request.state,
        "model_version": version.pk,
        "version": version.version,
        "registered_model": {"id": registered_model.pk, "name": registered_model.name},
        "project": {"id": registered_model.project_id, "name": registered_model.project.name},
        "submitted_by": request.submitted_by.get_username(),
        "submitted_at": request.created_at,
        "comment": request.comment,
        "policy": request.policy,
        "approvals": {
            "required": request.min_approvers,
            "by": [
                {"user": vote.user.get_username(), "at": vote.created_at, "comment": vote.comment} for vote in votes
            ],
        },
        "checks_status": request.checks_status,
        "checks": request.checks,
        "checks_finished_at": request.checks_finished_at,
        "decided_at": request.decided_at,
        "history": history_rows(request=request),
        "history_verified": report.ok,
        "chain": chain_data(report, head=request.history_head),
        "updated_at": request.updated_at,
    }
    if user is not None:
        data["actions"] = available_actions(request=request, user=user)
    return data


def approval_record(*, request: ApprovalRequest) -> dict[str, Any]:
    """The approval record an auditor files: the model card, the checks with their evidence (every run), the whole
    history with its hashes and whether the chain holds, and who decided what."""
    from apps.registry.services import model_card_refresh

    version = model_card_refresh(version=request.model_version)
    detail = approval_detail(request=request)
    runs = [
        {
            "id": run.pk,
            "status": run.status,
            "requested_by": run.requested_by.get_username() if run.requested_by else None,
            "created_at": run.created_at,
            "finished_at": run.finished_at,
            "error": run.error,
            "results": run.results,
        }
        for run in request.check_runs.select_related("requested_by").order_by("created_at", "id")
    ]
    decisions = [
        {"action": row["action"], "by": row["by"], "at": row["at"], "comment": row["comment"]}
        for row in detail["history"]
        if row["action"] in (ApprovalAction.APPROVE, ApprovalAction.VOTE, ApprovalAction.REJECT, ApprovalAction.DEPLOY)
    ]
    return {
        "record": {"generated_at": timezone.now(), "approval_request_id": request.pk},
        "approval": {key: value for key, value in detail.items() if key not in ("history", "chain")},
        "model_card": version.card,
        "artifact_sha256": version.artifact_sha256,
        "check_runs": runs,
        "decisions": decisions,
        "history": detail["history"],
        "chain": detail["chain"],
    }


# ---------------------------------------------------------------------------
# The registry's approval provider: one query for many versions
# ---------------------------------------------------------------------------
def approvals_of(versions: Sequence[ModelVersion]) -> dict[int, hooks.Approval]:
    """``{version_id: Approval}`` from each version's latest request and its history, in one query."""
    ids = [version.pk for version in versions]
    if not ids:
        return {}
    latest = (
        ApprovalRequest.objects.filter(model_version_id=OuterRef("request__model_version_id"))
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    events = (
        ApprovalEvent.objects.filter(request__model_version_id__in=ids, request_id=Subquery(latest))
        .select_related("request")
        .order_by("request_id", "sequence")
    )
    histories: dict[int, list[dict[str, Any]]] = {}
    requests: dict[int, ApprovalRequest] = {}
    for event in events:
        version_id = event.request.model_version_id
        requests[version_id] = event.request
        histories.setdefault(version_id, []).append(
            {
                "from": event.from_state or None,
                "to": event.to_state,
                "by": event.by_username or None,
                "at": event.at.isoformat(),
                "comment": event.comment,
                "action": event.action,
            }
        )
    answers = {}
    for version_id, request in requests.items():
        deployable = request.state in DEPLOYABLE_STATES
        reason = "" if deployable else f"its approval request #{request.pk} is '{request.state}', not 'approved'"
        answers[version_id] = hooks.Approval(
            state=request.state,
            deployable=deployable,
            reason=reason,
            history=tuple(histories[version_id]),
            request_id=request.pk,
        )
    return answers


# ---------------------------------------------------------------------------
# Notifications
# ---------------------------------------------------------------------------
def notifications_of(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).select_related("request")


def unread_count(*, user: User) -> int:
    if not user or not user.is_authenticated:
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
