"""Writes and business rules of governance: submitting a version for approval, moving requests through their
state machine, the automatic checks, deployment, history, policies and webhook endpoints.

Every move goes through :func:`_move`: the row is locked, who may act is decided first (403 with the reason, from
:mod:`apps.governance.rules`), then whether the machine allows the move now (409 naming the state or the checks), then
the transition is called as a method, saved, recorded in the hash-chained history and notified after commit.
Notifications (``apps.governance.notify``) never fail or block a move.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import can_proceed, has_transition_perm

from apps.core.audit import audit_log_record
from apps.core.exceptions import Conflict, NotFound, PermissionDenied, ValidationError
from apps.core.work import work_created, work_transition
from apps.governance import checks as automatic_checks
from apps.governance import notify, rules, webhooks
from apps.governance.choices import (
    ApprovalAction,
    ApprovalState,
    CheckRunStatus,
    CheckStatus,
    NotificationKind,
)
from apps.governance.hashchain import row_hash
from apps.governance.models import (
    ApprovalEvent,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalVote,
    CheckRun,
    WebhookEndpoint,
)
from apps.governance.selectors import approval_policy_for, latest_request_of
from apps.projects.choices import ProjectRole
from apps.projects.permissions import check_project_access
from apps.registry.hooks import DeployAuthorizer

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.projects.models import Project
    from apps.registry.models import Deployment, ModelVersion

logger = logging.getLogger("maestro.governance")

MAX_COMMENT = 10_000
MAX_WEBHOOKS_PER_PROJECT = 20


def _comment(comment: str | None) -> str:
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise ValidationError(f"At most {MAX_COMMENT} characters.", field="comment")
    return comment


def _lock(request_id: int) -> ApprovalRequest:
    request = (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("model_version__registered_model__project", "model_version__job", "submitted_by")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise NotFound("Approval request not found.")
    return request


def _refuse_unless_allowed(request: ApprovalRequest, user: User, action: str) -> None:
    """403 with the reason when ``user`` may never make ``action`` on ``request``; 404 when they cannot see it."""
    try:
        reason = rules.refusal(request, user, action)
    except rules.NotVisible:
        raise NotFound("Approval request not found.") from None
    if reason:
        raise PermissionDenied(reason)


def _sources(transition_method) -> list[str]:
    return sorted(str(source) for source in transition_method._django_fsm.transitions)


def _refuse_unless_state_allows(request: ApprovalRequest, transition_method, action: str) -> None:
    if not can_proceed(transition_method, check_conditions=False):
        allowed = ", ".join(f"'{state}'" for state in _sources(transition_method))
        raise Conflict(
            f"Cannot {rules.VERBS[action]} approval request #{request.pk}: it is '{request.state}', "
            f"and this move is only possible from {allowed}.",
            extra={"state": request.state, "allowed_from": _sources(transition_method)},
        )


def checks_summary(request: ApprovalRequest) -> str:
    """Which checks keep ``approve`` back: failed ones with their reason, pending ones by name."""
    results = request.checks or []
    if not results or all(r["status"] == CheckStatus.PENDING and not r.get("evidence") for r in results):
        names = [r["name"] for r in results] or automatic_checks.CHECK_NAMES
        return "pending: " + ", ".join(names)  # the run has not reported yet
    failed = [f"{r['name']} ({r['detail']})" for r in results if r["status"] == CheckStatus.FAILED]
    pending = [f"{r['name']} ({r['detail']})" for r in results if r["status"] == CheckStatus.PENDING]
    parts = []
    if failed:
        parts.append("failed: " + "; ".join(failed))
    if pending:
        parts.append("pending: " + ", ".join(pending))
    return " — ".join(parts) or "not run"


def _refuse_unless_checks_pass(request: ApprovalRequest, action: str) -> None:
    if not request.checks_passed():
        raise Conflict(
            f"Cannot {rules.VERBS[action]} approval request #{request.pk}: every automatic check must pass first; "
            f"{checks_summary(request)}.",
            extra={"state": request.state, "checks_status": request.checks_status, "checks": request.checks},
        )


# ---------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------
def _record(
    request: ApprovalRequest,
    *,
    action: str,
    from_state: str,
    to_state: str,
    by: User | None,
    comment: str = "",
    checks: list | None = None,
) -> ApprovalEvent:
    """Append one hash-chained row to ``request``'s history (the request row is locked by the caller)."""
    last = request.events.order_by("-sequence").values_list("sequence", flat=True).first()
    event = ApprovalEvent(
        request=request,
        sequence=0 if last is None else last + 1,
        action=action,
        from_state=from_state,
        to_state=to_state,
        by=by,
        by_username=by.get_username() if by else "",
        at=timezone.now(),
        comment=comment[:MAX_COMMENT],
        checks=checks or [],
        previous_hash=request.history_head,
    )
    event.hash = row_hash(content=event.content(), previous_hash=event.previous_hash)
    event.save()
    request.history_head = event.hash
    request.save(update_fields=["history_head", "updated_at"])
    return event


def _after_move(request: ApprovalRequest, event: ApprovalEvent, *, actor: User | None) -> None:
    notify.request_event(request=request, event=event, actor=actor)
    version_id = request.model_version_id
    transaction.on_commit(lambda: notify.enqueue("mirror_approval_state_to_mlflow", version_id))


# ---------------------------------------------------------------------------
# Submitting
# ---------------------------------------------------------------------------
@transaction.atomic
def approval_request_submit(*, version: ModelVersion, user: User, comment: str = "") -> ApprovalRequest:
    """Ask for ``version`` to be approved for production. One live (not rejected) request per version; a rejected
    version may be submitted again, as a new request (the old one and its history stay)."""
    from apps.registry.models import ModelVersion

    comment = _comment(comment)
    project = version.registered_model.project
    try:
        reason = rules.may_submit(user, project)
    except rules.NotVisible:
        raise NotFound("Not found.") from None
    if reason:
        raise PermissionDenied(reason)
    version = ModelVersion.objects.select_for_update().select_related("registered_model__project").get(pk=version.pk)
    live = version.approval_requests.exclude(state=ApprovalState.REJECTED).first()
    if live is not None:
        raise Conflict(
            f"model version {version.version} already has approval request #{live.pk}, which is '{live.state}'; "
            "only a rejected version may be submitted again.",
            extra={"approval_request_id": live.pk, "state": live.state},
        )
    if not version.artifact_sha256:
        raise Conflict(f"model version {version.version} has no hashed archive; it cannot be reviewed.")
    policy = approval_policy_for(project=project)
    request = ApprovalRequest(model_version=version, submitted_by=user, comment=comment, policy=policy.judging_rules())
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError as exc:  # another submission won the race
        raise Conflict(f"model version {version.version} was just submitted by someone else.") from exc
    event = _record(
        request, action=ApprovalAction.SUBMIT, from_state="", to_state=request.state, by=user, comment=comment
    )
    logger.info("Approval request %s submitted for %s by %s", request.pk, version, user)
    _after_move(request, event, actor=user)
    return request


# ---------------------------------------------------------------------------
# Moves
# ---------------------------------------------------------------------------
def _move(
    *,
    request: ApprovalRequest,
    user: User,
    action: str,
    pick: Callable[[ApprovalRequest], Callable[..., Any]],
    comment: str,
    before: Callable[[ApprovalRequest], dict[str, Any]] | None = None,
) -> tuple[ApprovalRequest, str]:
    """Lock ``request``, decide who (403), when (409), and what must hold (409), call the transition ``pick``
    chooses (a bound method of the locked row), save and record. ``before`` may add keyword arguments for the
    transition after the checks (the approve vote)."""
    comment = _comment(comment)
    locked = _lock(request.pk)
    transition_method = pick(locked)
    _refuse_unless_allowed(locked, user, action)
    _refuse_unless_state_allows(locked, transition_method, action)
    if ApprovalRequest.checks_passed in _conditions(transition_method, locked.state):
        _refuse_unless_checks_pass(locked, action)
    if not can_proceed(transition_method):  # a declared condition not covered above
        raise Conflict(f"Cannot {rules.VERBS[action]} approval request #{locked.pk} now: a condition is not met.")
    if not has_transition_perm(transition_method, user):  # the declared permission: agrees with the rules above
        raise PermissionDenied(f"You may not {rules.VERBS[action]} this approval request.")
    kwargs = before(locked) if before else {}
    from_state = locked.state
    transition_method(**kwargs)
    locked.save()
    return locked, from_state


def _conditions(transition_method, state: str) -> list:
    declared = transition_method._django_fsm.get_transition(state)
    return list(declared.conditions) if declared else []


def _finish_move(
    request: ApprovalRequest,
    *,
    from_state: str,
    action: str,
    user: User,
    comment: str,
    checks: list | None = None,
) -> ApprovalRequest:
    event = _record(
        request,
        action=action,
        from_state=from_state,
        to_state=request.state,
        by=user,
        comment=_comment(comment),
        checks=checks,
    )
    logger.info("Approval request %s: %s → %s (%s) by %s", request.pk, from_state, request.state, action, user)
    _after_move(request, event, actor=user)
    return request


@transaction.atomic
def approval_request_start_review(*, request: ApprovalRequest, user: User, comment: str = "") -> ApprovalRequest:
    """A reviewer takes the request up (``submitted → review``)."""
    locked, from_state = _move(
        request=request, user=user, action=ApprovalAction.START_REVIEW, pick=lambda r: r.start_review, comment=comment
    )
    return _finish_move(locked, from_state=from_state, action=ApprovalAction.START_REVIEW, user=user, comment=comment)


@transaction.atomic
def approval_request_start_testing(*, request: ApprovalRequest, user: User, comment: str = "") -> ApprovalRequest:
    """``review → testing``: the automatic checks are queued for a worker; ``approve`` waits for them to pass."""
    locked, from_state = _move(
        request=request,
        user=user,
        action=ApprovalAction.START_TESTING,
        pick=lambda r: r.start_testing,
        comment=comment,
    )
    _finish_move(locked, from_state=from_state, action=ApprovalAction.START_TESTING, user=user, comment=comment)
    _check_run_queue(request=locked, user=user)
    return locked


@transaction.atomic
def approval_request_approve(*, request: ApprovalRequest, user: User, comment: str = "") -> ApprovalRequest:
    """One reviewer's approval (``testing → approved`` once the policy's number of distinct approvers is reached;
    until then the vote is recorded and the request stays in testing)."""

    def vote(locked: ApprovalRequest) -> dict[str, Any]:
        if locked.votes.filter(user=user).exists():
            waiting = locked.min_approvers - locked.votes.count()
            raise Conflict(
                f"You already approved approval request #{locked.pk}; it waits for {waiting} more distinct "
                f"approver(s) (the policy asks for {locked.min_approvers}).",
                extra={"state": locked.state},
            )
        ApprovalVote.objects.create(request=locked, user=user, comment=_comment(comment))
        return {"approvers": locked.votes.count()}

    locked, from_state = _move(
        request=request,
        user=user,
        action=ApprovalAction.APPROVE,
        pick=lambda r: r.approve,
        comment=comment,
        before=vote,
    )
    approved = locked.state == ApprovalState.APPROVED
    if approved:
        locked.decided_at = timezone.now()
        locked.save(update_fields=["decided_at", "updated_at"])
    return _finish_move(
        locked,
        from_state=from_state,
        action=ApprovalAction.APPROVE if approved else ApprovalAction.VOTE,
        user=user,
        comment=comment,
        checks=locked.checks,
    )


@transaction.atomic
def approval_request_reject(*, request: ApprovalRequest, user: User, comment: str = "") -> ApprovalRequest:
    """``review | testing → rejected``; the version may be submitted again as a new request."""
    locked, from_state = _move(
        request=request, user=user, action=ApprovalAction.REJECT, pick=lambda r: r.reject, comment=comment
    )
    locked.decided_at = timezone.now()
    locked.save(update_fields=["decided_at", "updated_at"])
    return _finish_move(
        locked, from_state=from_state, action=ApprovalAction.REJECT, user=user, comment=comment, checks=locked.checks
    )


# ---------------------------------------------------------------------------
# Deployment: governance's rule for every way into production
# ---------------------------------------------------------------------------
def approval_request_deploy(
    *, request: ApprovalRequest, user: User, comment: str = ""
) -> tuple[ApprovalRequest, Deployment]:
    """Deploy an approved request's version (``approved → deployed``) through the registry's deployment, which asks
    :func:`deploy_authorize` inside its transaction: the request moves in the same transaction as production."""
    from apps.registry.services import model_version_deploy

    comment = _comment(comment)
    request = ApprovalRequest.objects.select_related(
        "model_version__registered_model__project", "model_version__job"
    ).get(pk=request.pk)
    _refuse_unless_allowed(request, user, ApprovalAction.DEPLOY)
    _refuse_unless_state_allows(request, request.deploy, ApprovalAction.DEPLOY)
    deployment = model_version_deploy(version=request.model_version, user=user, comment=comment)
    request.refresh_from_db()
    return request, deployment


def deploy_check_actor(*, project: Project, user: User) -> None:
    """The deploy authorizer's first question: may ``user`` ever deploy in ``project``? (403 otherwise)."""
    try:
        reason = rules.may_act(user, project, ApprovalAction.DEPLOY)
    except rules.NotVisible:
        raise NotFound("Not found.") from None
    if reason:
        raise PermissionDenied(reason)


def deploy_authorize(*, version: ModelVersion, user: User, action: str, comment: str = "") -> None:
    """Called by the registry inside a deployment's transaction (``version`` locked): the version's latest request
    must be approved (it moves to ``deployed`` here) or, for a redeploy or rollback, already deployed; separation of
    duties applies to every one of them."""
    latest = latest_request_of(version=version)
    if latest is None:
        raise Conflict(
            f"model version {version.version} has no approved approval request; submit it for approval "
            "and have it approved before deploying.",
            extra={"missing": "approval", "approval_state": None},
        )
    locked = _lock(latest.pk)
    _refuse_unless_allowed(locked, user, ApprovalAction.DEPLOY)
    if locked.state == ApprovalState.APPROVED:
        _refuse_unless_checks_pass(locked, ApprovalAction.DEPLOY)
        from_state = locked.state
        locked.deploy()
        locked.save()
        _finish_move(locked, from_state=from_state, action=ApprovalAction.DEPLOY, user=user, comment=comment)
        return
    if locked.state == ApprovalState.DEPLOYED:
        note = f"{action}: {comment}" if comment else action
        _finish_move(locked, from_state=locked.state, action=ApprovalAction.REDEPLOY, user=user, comment=note)
        return
    raise Conflict(
        f"model version {version.version} cannot be deployed: its approval request #{locked.pk} is "
        f"'{locked.state}', not 'approved'.",
        extra={"missing": "approval", "approval_state": locked.state, "approval_request_id": locked.pk},
    )


# ---------------------------------------------------------------------------
# Automatic checks
# ---------------------------------------------------------------------------
def _check_run_queue(*, request: ApprovalRequest, user: User | None, reason: str = "") -> CheckRun:
    run = CheckRun.objects.create(request=request, requested_by=user)
    why = f" ({reason})" if reason else ""
    work_created(run, by=user, message=f"Queued: the automatic checks of the approval request{why}.")
    transaction.on_commit(lambda: notify.enqueue("run_approval_checks", run.pk))
    return run


@transaction.atomic
def approval_request_rerun_checks(*, request: ApprovalRequest, user: User) -> CheckRun:
    """Run the automatic checks again (e.g. once the explanation exists); only in testing, one run at a time."""
    locked = _lock(request.pk)
    _refuse_unless_allowed(locked, user, ApprovalAction.START_TESTING)
    if locked.state != ApprovalState.TESTING:
        raise Conflict(
            f"The checks of approval request #{locked.pk} run in testing; it is '{locked.state}'.",
            extra={"state": locked.state},
        )
    if locked.check_runs.filter(status__in=[CheckRunStatus.QUEUED, CheckRunStatus.RUNNING]).exists():
        raise Conflict(f"The checks of approval request #{locked.pk} are already running.")
    locked.checks_status = CheckStatus.PENDING
    locked.checks = []
    locked.save(update_fields=["checks_status", "checks", "updated_at"])
    return _check_run_queue(request=locked, user=user)


def approval_checks_after_explanation(*, version_id: int, status: str) -> list[int]:
    """The explain app's listener: a version's global explanation ended (succeeded or failed), so the checks of every
    request of that version in testing run again by themselves; a run already under way is superseded (only the
    newest run's results reach the request). Answers the ids of the runs queued."""
    queued = []
    with transaction.atomic():
        for request in ApprovalRequest.objects.select_for_update().filter(
            model_version_id=version_id, state=ApprovalState.TESTING
        ):
            request.checks_status = CheckStatus.PENDING
            request.save(update_fields=["checks_status", "updated_at"])
            run = _check_run_queue(request=request, user=None, reason=f"the version's global explanation {status}")
            queued.append(run.pk)
    return queued


def check_run_execute(*, run_id: int) -> CheckRun | None:
    """Run the checks of a queued run and record them on its request. Idempotent: an ended run is left alone; a run
    whose worker was lost runs again, up to its attempts."""
    with transaction.atomic():
        run = CheckRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or not run.is_active:
            return run
        if run.status == CheckRunStatus.RUNNING:
            work_transition(run, run.requeue, message="The worker running these checks was lost; they run again.")
        given_up = not run.attempts_left()
        if not given_up:
            run.started_at = timezone.now()
            work_transition(run, run.start, message=f"Attempt {run.attempts + 1}.")
    if given_up:
        return _check_run_end(
            run_id=run_id, results=None, error=f"the checks stopped their worker {run.attempts} times and were given up"
        )
    run = CheckRun.objects.select_related(
        "request__model_version__registered_model__project", "request__model_version__dataset"
    ).get(pk=run_id)
    try:
        results = automatic_checks.run_checks(run.request.model_version, run.request.policy)
    except Exception as exc:  # recorded on the request, which then shows the checks failed
        logger.exception("Checks run %s failed", run_id)
        return _check_run_end(run_id=run_id, results=None, error=f"{type(exc).__name__}: {exc}")
    return _check_run_end(run_id=run_id, results=results)


@transaction.atomic
def _check_run_end(*, run_id: int, results: list | None, error: str = "") -> CheckRun:
    """End a run (succeeded with ``results``, or failed with ``error``) and, if it is the request's newest run,
    put its results on the request and in its history."""
    request_id = CheckRun.objects.values_list("request_id", flat=True).get(pk=run_id)
    request = _lock(request_id)
    run = CheckRun.objects.select_for_update().get(pk=run_id)
    if not run.is_active:
        return run
    run.finished_at = timezone.now()
    if results is None:
        results = [
            {
                "name": "checks",
                "title": "Automatic checks",
                "status": CheckStatus.FAILED,
                "detail": f"The checks could not run: {error}",
                "evidence": {},
            }
        ]
        run.error = error[:5000]
        run.results = results
        work_transition(run, run.fail, message=run.error)
    else:
        run.results = results
        work_transition(run, run.succeed, message=automatic_checks.overall_status(results))
    newest = request.check_runs.order_by("-created_at", "-id").values_list("pk", flat=True).first()
    if newest != run.pk:  # a newer run was asked for; this one's results stay on the run only
        return run
    request.checks = results
    request.checks_status = automatic_checks.overall_status(results)
    request.checks_finished_at = run.finished_at
    request.save(update_fields=["checks", "checks_status", "checks_finished_at", "updated_at"])
    failed = [r["name"] for r in results if r["status"] == CheckStatus.FAILED]
    waiting = [r["name"] for r in results if r["status"] == CheckStatus.PENDING]
    if failed:
        summary = f"Automatic checks failed: {', '.join(failed)}."
    elif waiting:
        summary = f"Automatic checks wait for: {', '.join(waiting)}; they run again when it is ready."
    else:
        summary = "All automatic checks passed."
    event = _record(
        request,
        action=ApprovalAction.CHECKS,
        from_state=request.state,
        to_state=request.state,
        by=None,
        comment=summary,
        checks=results,
    )
    notify.request_event(request=request, event=event, actor=None, kind=NotificationKind.CHECKS)
    return run


# ---------------------------------------------------------------------------
# Reminders
# ---------------------------------------------------------------------------
def approval_reminders_send(*, now=None) -> list[int]:
    """Remind the reviewers of every open request without a decision for the project's number of days (then every
    that many days again). Answers the ids of the requests reminded."""
    from apps.governance.choices import OPEN_STATES

    now = now or timezone.now()
    reminded: list[int] = []
    candidates = ApprovalRequest.objects.filter(state__in=OPEN_STATES).select_related(
        "model_version__registered_model__project__approval_policy"
    )
    for request in candidates.iterator():
        project = request.model_version.registered_model.project
        policy = getattr(project, "approval_policy", None)
        days = policy.reminder_days if policy is not None and policy.reminder_days is not None else None
        if days is None:
            days = settings.GOVERNANCE_REMINDER_DAYS
        if not days:
            continue
        since = request.reminded_at or request.created_at
        if now - since < timedelta(days=days):
            continue
        with transaction.atomic():
            locked = _lock(request.pk)
            if locked.state not in OPEN_STATES or (
                locked.reminded_at and now - locked.reminded_at < timedelta(days=days)
            ):
                continue
            locked.reminded_at = now
            locked.save(update_fields=["reminded_at", "updated_at"])
            notify.reminder(request=locked, days=days)
        reminded.append(request.pk)
    return reminded


# ---------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------
POLICY_FIELDS = (
    "min_approvers",
    "deployer_must_differ",
    "holdout_metric",
    "holdout_min_score",
    "reminder_days",
    "notify_admins",
)


@transaction.atomic
def approval_policy_update(*, project: Project, user: User, **changes: Any) -> ApprovalPolicy:
    """Change a project's approval policy (owners). Running requests keep the judging rules they were submitted
    under; the change is audited."""
    check_project_access(user=user, project=project, minimum=ProjectRole.OWNER)
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown policy fields: {sorted(unknown)}.")
    policy, _ = ApprovalPolicy.objects.select_for_update().get_or_create(project=project)
    before = {field: getattr(policy, field) for field in POLICY_FIELDS}
    for field, value in changes.items():
        setattr(policy, field, value)
    policy.holdout_metric = (policy.holdout_metric or "").strip()
    if bool(policy.holdout_metric) != (policy.holdout_min_score is not None):
        raise ValidationError(
            "A holdout threshold needs both a metric and a minimum score (or neither).", field="holdout_min_score"
        )
    if not 1 <= policy.min_approvers <= 10:
        raise ValidationError("Between 1 and 10.", field="min_approvers")
    policy.updated_by = user
    policy.full_clean()
    policy.save()
    after = {field: getattr(policy, field) for field in POLICY_FIELDS}
    audit_log_record(
        actor=user, action="approval_policy.changed", target=project, data={"before": before, "after": after}
    )
    return policy


# ---------------------------------------------------------------------------
# Webhook endpoints
# ---------------------------------------------------------------------------
def _check_webhook_url(url: str) -> None:
    try:
        webhooks.check_url(
            url,
            allow_http=settings.GOVERNANCE_WEBHOOK_ALLOW_HTTP,
            allowed_networks=settings.GOVERNANCE_WEBHOOK_ALLOWED_NETWORKS,
        )
    except webhooks.UnsafeDestination as exc:
        raise ValidationError(f"This URL cannot receive webhooks: {exc}.", field="url") from exc


@transaction.atomic
def webhook_endpoint_create(
    *, project: Project, user: User, url: str, description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Add a webhook endpoint to ``project`` (owners). Answers the endpoint and its signing secret, which is shown
    this once."""
    check_project_access(user=user, project=project, minimum=ProjectRole.OWNER)
    url = (url or "").strip()
    _check_webhook_url(url)
    if project.webhook_endpoints.count() >= MAX_WEBHOOKS_PER_PROJECT:
        raise Conflict(f"A project has at most {MAX_WEBHOOKS_PER_PROJECT} webhook endpoints.")
    secret = webhooks.new_secret()
    endpoint = WebhookEndpoint(project=project, url=url, description=(description or "").strip(), secret=secret)
    endpoint.created_by = user
    endpoint.full_clean()
    endpoint.save()
    audit_log_record(actor=user, action="webhook.created", target=endpoint, data={"project": project.pk, "url": url})
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, user: User, is_active: bool | None = None, description: str | None = None
) -> WebhookEndpoint:
    """Rename, disable or re-enable an endpoint (owners); re-enabling starts its failure count again."""
    check_project_access(user=user, project=endpoint.project, minimum=ProjectRole.OWNER)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if description is not None:
        endpoint.description = description.strip()[:200]
    if is_active is not None and is_active != endpoint.is_active:
        endpoint.is_active = is_active
        if is_active:
            endpoint.consecutive_failures = 0
            endpoint.disabled_at = None
            endpoint.disabled_reason = ""
        else:
            endpoint.disabled_at = timezone.now()
            endpoint.disabled_reason = f"Disabled by {user.get_username()}."
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, user: User) -> None:
    """Remove an endpoint and its delivery log (owners)."""
    check_project_access(user=user, project=endpoint.project, minimum=ProjectRole.OWNER)
    audit_log_record(actor=user, action="webhook.deleted", target=endpoint, data={"url": endpoint.url})
    endpoint.delete()


# The registry asks this for every deployment and rollback (registered in GovernanceConfig.ready()).
DEPLOY_AUTHORIZER = DeployAuthorizer(check_actor=deploy_check_actor, authorize=deploy_authorize)
