"""Governance: approval requests on model versions, their tamper-evident history, the automatic checks, per-project
policies, in-app notifications and signed webhooks."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from apps.core.models import AppendOnlyModel, BackgroundWork, TimeStampedModel, WorkEvent
from apps.governance import rules
from apps.governance.choices import (
    ApprovalAction,
    ApprovalState,
    CheckStatus,
    EmailStatus,
    NotificationKind,
)
from apps.governance.hashchain import GENESIS


class ApprovalPolicy(TimeStampedModel):
    """The rules a project's approval requests follow; a project without a row follows the defaults.

    A request copies the judging rules (approvers, deployer, holdout threshold) when it is submitted, so a policy
    changed during a review does not change the rules of that review. Reminders follow the current policy.
    """

    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE, related_name="approval_policy")
    min_approvers = models.PositiveSmallIntegerField(
        default=1, help_text="Distinct reviewers who must approve before a request is approved."
    )
    deployer_must_differ = models.BooleanField(
        default=False, help_text="Whether the person who deploys must not be one of the approvers."
    )
    holdout_metric = models.CharField(
        max_length=64, blank=True, help_text="Metric of the held-out split the holdout check compares (e.g. accuracy)."
    )
    holdout_min_score = models.FloatField(
        null=True, blank=True, help_text="The holdout check passes when the metric is at least this."
    )
    reminder_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Days without a decision before reviewers are reminded (empty: the platform default; 0: never).",
    )
    notify_admins = models.BooleanField(default=False, help_text="Also notify platform administrators.")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "approval policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(min_approvers__gte=1, min_approvers__lte=10), name="approval_policy_min_approvers_range"
            ),
            models.CheckConstraint(
                condition=(Q(holdout_metric="") & Q(holdout_min_score__isnull=True))
                | (~Q(holdout_metric="") & Q(holdout_min_score__isnull=False)),
                name="approval_policy_holdout_metric_and_score_together",
            ),
        ]

    def __str__(self) -> str:
        return f"Approval policy of {self.project}"

    def judging_rules(self) -> dict:
        """What a request copies when it is submitted."""
        return {
            "min_approvers": self.min_approvers,
            "deployer_must_differ": self.deployer_must_differ,
            "holdout_metric": self.holdout_metric,
            "holdout_min_score": self.holdout_min_score,
        }


class ApprovalRequest(ConcurrentTransitionMixin, TimeStampedModel):
    """A request to let one model version reach production, moved by reviewers through a state machine.

    ``state`` moves only through the transitions below (``protected=True``), called as methods by
    ``apps.governance.services`` with the row locked; a stale copy cannot overwrite a newer state
    (``ConcurrentTransitionMixin``). Each transition declares who may make it (``permission=``, see
    :mod:`apps.governance.rules`) and what must hold (``conditions=``). Every move, vote and check run appends a row
    to :class:`ApprovalEvent`, whose hash chain ends at ``history_head``.
    """

    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="approval_requests"
    )
    state = FSMField(default=ApprovalState.SUBMITTED, choices=ApprovalState.choices, protected=True, db_index=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True, help_text="The submitter's note.")
    policy = models.JSONField(default=dict, help_text="The project's judging rules when this request was submitted.")
    checks_status = models.CharField(max_length=16, choices=CheckStatus.choices, default=CheckStatus.NONE)
    checks = models.JSONField(default=list, blank=True, help_text="Results of the latest automatic check run.")
    checks_finished_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True, help_text="When it was approved or rejected.")
    reminded_at = models.DateTimeField(null=True, blank=True)
    history_head = models.CharField(max_length=64, default=GENESIS, help_text="Hash of the latest history row.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one request per version that is not rejected: open, approved or deployed.
            models.UniqueConstraint(
                fields=["model_version"],
                condition=~Q(state=ApprovalState.REJECTED),
                name="one_live_approval_request_per_version",
            ),
            models.CheckConstraint(
                condition=Q(state__in=[choice.value for choice in ApprovalState]), name="approval_request_state_valid"
            ),
        ]
        permissions = [("review_approvalrequest", "Can review, test, approve and reject approval requests")]

    def __str__(self) -> str:
        return f"Approval #{self.pk} ({self.state})"

    # --- conditions (side-effect free) ----------------------------------------------------------------------
    def version_has_artifact(self) -> bool:
        """The version has a hashed predictor archive to review and test."""
        return bool(self.model_version.artifact and self.model_version.artifact_sha256)

    def checks_passed(self) -> bool:
        """Every automatic check of the latest run passed (or was skipped because no threshold is set)."""
        return self.checks_status == CheckStatus.PASSED

    @property
    def min_approvers(self) -> int:
        return int(self.policy.get("min_approvers") or 1)

    # --- transitions ----------------------------------------------------------------------------------------
    @transition(
        field=state,
        source=ApprovalState.SUBMITTED,
        target=ApprovalState.REVIEW,
        permission=rules.permission(ApprovalAction.START_REVIEW),
        conditions=[version_has_artifact],
    )
    def start_review(self) -> None:
        """A reviewer takes the request up."""

    @transition(
        field=state,
        source=ApprovalState.REVIEW,
        target=ApprovalState.TESTING,
        permission=rules.permission(ApprovalAction.START_TESTING),
        conditions=[version_has_artifact],
    )
    def start_testing(self) -> None:
        """The automatic checks start (a background run); their results gate ``approve``."""
        self.checks_status = CheckStatus.PENDING
        self.checks = []
        self.checks_finished_at = None

    @transition(
        field=state,
        source=ApprovalState.TESTING,
        target=RETURN_VALUE(ApprovalState.TESTING, ApprovalState.APPROVED),
        permission=rules.permission(ApprovalAction.APPROVE),
        conditions=[checks_passed],
    )
    def approve(self, *, approvers: int) -> str:
        """One reviewer's approval; ``approvers`` counts the distinct approvers including this one. The request is
        approved once the policy's minimum is reached, and stays in testing until then."""
        if approvers >= self.min_approvers:
            return ApprovalState.APPROVED
        return ApprovalState.TESTING

    @transition(
        field=state,
        source=[ApprovalState.REVIEW, ApprovalState.TESTING],
        target=ApprovalState.REJECTED,
        permission=rules.permission(ApprovalAction.REJECT),
        conditions=[],  # nothing blocks a rejection
    )
    def reject(self) -> None:
        """A reviewer turns the version down; it may be submitted again as a new request."""

    @transition(
        field=state,
        source=ApprovalState.APPROVED,
        target=ApprovalState.DEPLOYED,
        permission=rules.permission(ApprovalAction.DEPLOY),
        conditions=[checks_passed],
    )
    def deploy(self) -> None:
        """The version became its registered model's production version (in the same transaction)."""


class ApprovalVote(AppendOnlyModel):
    """One reviewer's approval of a request; distinct approvers are counted here (one row per reviewer)."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.PROTECT, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["request", "user"], name="one_vote_per_reviewer")]

    def __str__(self) -> str:
        return f"{self.user} approved #{self.request_id}"


class ApprovalEvent(AppendOnlyModel):
    """One row of a request's history: a transition, a vote, a check run or a redeploy. Append-only, and chained:
    ``hash`` is SHA-256 of ``previous_hash`` and the row's content (see :mod:`apps.governance.hashchain`)."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.PROTECT, related_name="events")
    sequence = models.PositiveIntegerField(help_text="0 for the submission, then 1, 2, ... per request.")
    action = models.CharField(max_length=16, choices=ApprovalAction.choices)
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    by_username = models.CharField(max_length=150, blank=True)
    at = models.DateTimeField()
    comment = models.TextField(blank=True)
    checks = models.JSONField(default=list, blank=True)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["request_id", "sequence"]
        constraints = [models.UniqueConstraint(fields=["request", "sequence"], name="approval_event_sequence_unique")]

    def __str__(self) -> str:
        return f"#{self.request_id}.{self.sequence} {self.action} {self.from_state or '-'} → {self.to_state}"

    def content(self) -> dict:
        """What the hash covers."""
        return {
            "request": self.request_id,
            "sequence": self.sequence,
            "action": self.action,
            "from": self.from_state,
            "to": self.to_state,
            "by": self.by_id,
            "by_username": self.by_username,
            "at": self.at,
            "comment": self.comment,
            "checks": self.checks,
        }


class CheckRun(BackgroundWork):
    """One run of a request's automatic checks by a worker; ``results`` holds each check's outcome and evidence."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.PROTECT, related_name="check_runs")
    results = models.JSONField(default=list, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Checks of #{self.request_id} ({self.status})"


class CheckRunEvent(WorkEvent):
    """Append-only history of a check run's state changes."""

    run = models.ForeignKey(CheckRun, on_delete=models.CASCADE, related_name="events")


class Notification(TimeStampedModel):
    """An in-app notification of one user about an approval request; also emailed when the user has an address."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    request = models.ForeignKey(
        ApprovalRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="notifications"
    )
    kind = models.CharField(max_length=16, choices=NotificationKind.choices, default=NotificationKind.TRANSITION)
    title = models.CharField(max_length=255)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_status = models.CharField(max_length=16, choices=EmailStatus.choices, default=EmailStatus.PENDING)
    email_error = models.TextField(blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread")]

    def __str__(self) -> str:
        return f"{self.user}: {self.title}"


class WebhookEndpoint(TimeStampedModel):
    """A URL of a project that receives every approval event, signed the Standard Webhooks way with ``secret``
    (shown once, when it is made). Disabled after too many failed deliveries in a row."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.TextField(blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.url


class WebhookMessage(BackgroundWork):
    """One event for one endpoint: the exact body and ``webhook-id`` every attempt sends (status and history:
    ``BackgroundWork``; each attempt is a :class:`WebhookDelivery`)."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    request = models.ForeignKey(
        ApprovalRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_messages"
    )
    msg_id = models.CharField(max_length=64, unique=True)
    event = models.CharField(max_length=64)
    body = models.TextField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    max_attempts: ClassVar[int] = 8

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"

    def get_max_attempts(self) -> int:
        return int(getattr(settings, "GOVERNANCE_WEBHOOK_MAX_ATTEMPTS", self.max_attempts))


class WebhookMessageEvent(WorkEvent):
    """Append-only history of a webhook message's state changes."""

    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="events")


class WebhookDelivery(AppendOnlyModel):
    """One attempt to deliver a message: what the endpoint answered (or why it could not be reached)."""

    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    attempt = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    ok = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.FloatField(default=0)
    peer_ip = models.GenericIPAddressField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.message.msg_id} attempt {self.attempt}: {'ok' if self.ok else self.error}"
