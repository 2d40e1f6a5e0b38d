from django.db import models

from apps.core.models import WorkStatus


class ApprovalState(models.TextChoices):
    """The states of an approval request: ``submitted → review → testing → approved → deployed``, and
    ``review | testing → rejected``."""

    SUBMITTED = "submitted", "Submitted"
    REVIEW = "review", "In review"
    TESTING = "testing", "In testing"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    DEPLOYED = "deployed", "Deployed"


# Waiting for a reviewer's decision (the approvals queue shows these first; reminders are about these).
OPEN_STATES = [ApprovalState.SUBMITTED, ApprovalState.REVIEW, ApprovalState.TESTING]
# A version may be deployed (again) when its latest request is in one of these.
DEPLOYABLE_STATES = [ApprovalState.APPROVED, ApprovalState.DEPLOYED]


class ApprovalAction(models.TextChoices):
    """What a history row records: a transition, a vote that did not move the state, a check run, a redeploy."""

    SUBMIT = "submit", "Submitted"
    START_REVIEW = "start_review", "Started review"
    START_TESTING = "start_testing", "Started testing"
    APPROVE = "approve", "Approved"
    VOTE = "vote", "Approved (vote)"
    REJECT = "reject", "Rejected"
    DEPLOY = "deploy", "Deployed"
    REDEPLOY = "redeploy", "Deployed again"
    CHECKS = "checks", "Automatic checks"


class CheckStatus(models.TextChoices):
    """Outcome of the automatic checks of a request (all of them), or of one check."""

    NONE = "none", "Not run"
    PENDING = "pending", "Pending"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class NotificationKind(models.TextChoices):
    TRANSITION = "transition", "State change"
    CHECKS = "checks", "Automatic checks"
    REMINDER = "reminder", "Reminder"
    MONITORING = "monitoring", "Model monitoring"


class EmailStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


# Check runs and webhook messages are background work: their states are every background work's states.
CheckRunStatus = WorkStatus
WebhookMessageStatus = WorkStatus
