"""Telling the people concerned: in-app notifications, emails and signed webhooks, none of which ever blocks or
fails the move that caused them.

A move writes its notifications and webhook messages in its own transaction (an outbox: they exist exactly when the
move committed), inside a savepoint whose errors are logged, not raised. Emails and webhook deliveries are sent by
Celery tasks queued after commit; a failure to queue is logged and the periodic sweep queues them again. Each
delivery attempt is recorded (``WebhookDelivery``), each email's outcome on its notification.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.roles import Role
from apps.core import resilience
from apps.core.work import work_created, work_transition
from apps.governance import webhooks
from apps.governance.choices import (
    ApprovalAction,
    EmailStatus,
    NotificationKind,
    WebhookMessageStatus,
)
from apps.governance.models import (
    ApprovalEvent,
    ApprovalRequest,
    Notification,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger("maestro.governance")

LABELS = {
    ApprovalAction.SUBMIT: "submitted for approval",
    ApprovalAction.START_REVIEW: "in review",
    ApprovalAction.START_TESTING: "in testing (automatic checks queued)",
    ApprovalAction.APPROVE: "approved",
    ApprovalAction.VOTE: "approved by one reviewer, waiting for more",
    ApprovalAction.REJECT: "rejected",
    ApprovalAction.DEPLOY: "deployed to production",
    ApprovalAction.REDEPLOY: "deployed to production again",
    ApprovalAction.CHECKS: "automatic checks finished",
}


def enqueue(task_name: str, *args: Any, countdown: float | None = None) -> None:
    """Queue a governance task; a broker that cannot take it is logged (the sweep queues it again), never raised."""
    from apps.governance import tasks

    try:
        getattr(tasks, task_name).apply_async(args=args, countdown=countdown)
    except Exception:
        logger.exception("Could not queue %s%r; the governance sweep will queue it again", task_name, args)


def site_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def request_path(request: ApprovalRequest) -> str:
    return f"/approvals/{request.pk}/"


def project_reviewers(project) -> list[User]:
    """Members of ``project`` (any project role) whose account holds the reviewer role."""
    from apps.accounts.models import User

    return list(
        User.objects.filter(project_memberships__project=project, groups__name=Role.REVIEWER, is_active=True).distinct()
    )


def platform_admins() -> list[User]:
    from apps.accounts.models import User

    return list(User.objects.filter(Q(is_superuser=True) | Q(groups__name=Role.ADMIN), is_active=True).distinct())


def recipients(request: ApprovalRequest, *, actor: User | None, include_submitter: bool = True) -> list[User]:
    """The people concerned by a request: its submitter, the project's reviewers and, when the project's policy
    says so, the platform's administrators; never the person who made the move."""
    from apps.governance.selectors import approval_policy_for

    project = request.model_version.registered_model.project
    people: dict[int, User] = {}
    if include_submitter and request.submitted_by.is_active:
        people[request.submitted_by_id] = request.submitted_by
    for user in project_reviewers(project):
        people.setdefault(user.pk, user)
    if approval_policy_for(project=project).notify_admins:
        for user in platform_admins():
            people.setdefault(user.pk, user)
    if actor is not None:
        people.pop(actor.pk, None)
    return list(people.values())


def _describe(request: ApprovalRequest) -> str:
    version = request.model_version
    return f"{version.registered_model.name} v{version.version}"


def _webhook_data(request: ApprovalRequest, event: ApprovalEvent | None, *, kind: str) -> dict[str, Any]:
    version = request.model_version
    data: dict[str, Any] = {
        "approval_request_id": request.pk,
        "state": request.state,
        "kind": kind,
        "model_version": {
            "id": version.pk,
            "version": version.version,
            "registered_model": version.registered_model.name,
            "registered_model_id": version.registered_model_id,
        },
        "project": {"id": version.registered_model.project_id, "name": version.registered_model.project.name},
        "submitted_by": request.submitted_by.get_username(),
        "checks_status": request.checks_status,
        "url": site_url(request_path(request)),
    }
    if event is not None:
        data.update(
            {
                "action": event.action,
                "from": event.from_state or None,
                "to": event.to_state,
                "by": event.by_username or None,
                "at": event.at,
                "comment": event.comment,
                "sequence": event.sequence,
            }
        )
    return data


def _fan_out(
    *,
    request: ApprovalRequest | None,
    people: list[User],
    kind: str,
    title: str,
    body: str,
    event_type: str,
    webhook_data: dict[str, Any],
    webhook_text: str,
    project_id: int | None = None,
    url: str | None = None,
) -> None:
    email_on = settings.GOVERNANCE_EMAIL_NOTIFICATIONS
    if request is not None:
        project_id = request.model_version.registered_model.project_id
        url = request_path(request)
    notifications = Notification.objects.bulk_create(
        [
            Notification(
                user=user,
                request=request,
                kind=kind,
                title=title[:255],
                body=body,
                url=url or "",
                email_status=EmailStatus.PENDING if email_on and user.email else EmailStatus.SKIPPED,
            )
            for user in people
        ]
    )
    email_ids = [n.pk for n in notifications if n.email_status == EmailStatus.PENDING]
    message_ids = []
    endpoints = WebhookEndpoint.objects.filter(project_id=project_id)
    for endpoint in endpoints.filter(is_active=True):
        message = WebhookMessage.objects.create(
            endpoint=endpoint,
            request=request,
            msg_id=webhooks.new_message_id(),
            event=event_type,
            body=webhooks.payload(event=event_type, data=webhook_data, text=webhook_text).decode("utf-8"),
        )
        work_created(message, message=f"Queued: {event_type} for {endpoint.url}")
        message_ids.append(message.pk)

    def send() -> None:
        for notification_id in email_ids:
            enqueue("send_notification_email", notification_id)
        for message_id in message_ids:
            enqueue("deliver_webhook_message", message_id)

    transaction.on_commit(send)


def _safely(what: str, action) -> None:
    """Run a fan-out in a savepoint: its failure is logged and rolled back alone, never the move's."""
    try:
        with transaction.atomic():
            action()
    except Exception:
        logger.exception("Could not notify %s; the move itself is recorded", what)


def request_event(
    *, request: ApprovalRequest, event: ApprovalEvent, actor: User | None, kind: str = NotificationKind.TRANSITION
) -> None:
    """Notify the people concerned by one history row of ``request`` (a move, a vote, a check run)."""

    def fan_out() -> None:
        label = LABELS.get(event.action, event.action)
        who = f" by {event.by_username}" if event.by_username else ""
        title = f"{_describe(request)}: {label}{who}"
        lines = [f"Approval request #{request.pk} of {_describe(request)} is now '{request.state}'."]
        if event.from_state and event.from_state != event.to_state:
            lines.append(f"It moved from '{event.from_state}' to '{event.to_state}'{who}.")
        if event.comment:
            lines.append(f"Comment: {event.comment}")
        lines.append(site_url(request_path(request)))
        text = f"[{request.model_version.registered_model.project.name}] {title}"
        if event.comment:
            text += f" — {event.comment[:300]}"
        _fan_out(
            request=request,
            people=recipients(request, actor=actor),
            kind=kind,
            title=title,
            body="\n".join(lines),
            event_type=f"approval.{event.action}",
            webhook_data=_webhook_data(request, event, kind=kind),
            webhook_text=text,
        )

    _safely(f"about approval request {request.pk}", fan_out)


def project_members(project) -> list[User]:
    """The active members of ``project`` (any project role), its owner included."""
    from apps.accounts.models import User

    people = {user.pk: user for user in User.objects.filter(project_memberships__project=project, is_active=True)}
    if project.owner.is_active:
        people.setdefault(project.owner_id, project.owner)
    return list(people.values())


def project_event(
    *,
    project,
    kind: str,
    title: str,
    body: str,
    path: str,
    event_type: str,
    data: dict[str, Any],
) -> None:
    """Tell a project's members (in the app and by email) and its webhooks about an event that is not an approval
    request's (a monitored model flagged for drift). Like every fan-out, it never raises into its caller."""

    def fan_out() -> None:
        _fan_out(
            request=None,
            people=project_members(project),
            kind=kind,
            title=title,
            body=f"{body}\n{site_url(path)}",
            event_type=event_type,
            webhook_data={**data, "project": {"id": project.pk, "name": project.name}, "url": site_url(path)},
            webhook_text=f"[{project.name}] {title}",
            project_id=project.pk,
            url=path,
        )

    _safely(f"project {project.pk} of {event_type}", fan_out)


def reminder(*, request: ApprovalRequest, days: int) -> None:
    """Remind the reviewers of an open request that waits for a decision."""

    def fan_out() -> None:
        waiting = (timezone.now() - request.created_at).days
        title = f"Reminder: {_describe(request)} waits for a decision ({request.state}, {waiting} days)"
        body = (
            f"Approval request #{request.pk} of {_describe(request)} has been '{request.state}' without a decision "
            f"for {waiting} days (this project reminds after {days}).\n{site_url(request_path(request))}"
        )
        _fan_out(
            request=request,
            people=recipients(request, actor=None, include_submitter=False),
            kind=NotificationKind.REMINDER,
            title=title,
            body=body,
            event_type="approval.reminder",
            webhook_data=_webhook_data(request, None, kind=NotificationKind.REMINDER),
            webhook_text=f"[{request.model_version.registered_model.project.name}] {title}",
        )

    _safely(f"a reminder of approval request {request.pk}", fan_out)


# ---------------------------------------------------------------------------
# In-app
# ---------------------------------------------------------------------------
@transaction.atomic
def notification_mark_read(*, notification: Notification, user: User) -> Notification:
    """Mark one of ``user``'s notifications read (someone else's is not found)."""
    from apps.core.exceptions import NotFound

    notification = Notification.objects.select_for_update().filter(pk=notification.pk, user=user).first()
    if notification is None:
        raise NotFound("Notification not found.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at", "updated_at"])
    return notification


@transaction.atomic
def notifications_mark_all_read(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now(), updated_at=timezone.now()
    )


# ---------------------------------------------------------------------------
# Email
# ---------------------------------------------------------------------------
class EmailUnavailable(Exception):
    """The mail server could not be reached: the notification stays pending and is tried again."""


def _is_transient_email_error(exc: BaseException) -> bool:
    import smtplib

    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500  # 4xx: try again later; 5xx: refused for good
    if isinstance(exc, smtplib.SMTPException):  # refused recipients or sender, bad credentials: for good
        return False
    return isinstance(exc, OSError)  # connection refused or reset, timeouts, name resolution


@transaction.atomic
def notification_email_send(*, notification_id: int) -> Notification | None:
    """Email one pending notification through Django's email backend; the outcome (or error) is recorded on it,
    never raised. Idempotent: a notification is emailed at most once."""
    notification = (
        Notification.objects.select_for_update(of=("self",)).select_related("user").filter(pk=notification_id).first()
    )
    if notification is None or notification.email_status != EmailStatus.PENDING:
        return notification
    try:
        # Through the email breaker: while the mail server is unreachable, the notification stays pending and
        # is sent again later (the task's retries, then the outbox sweep) instead of failing for good.
        resilience.call(
            "email",
            send_mail,
            subject=f"[Maestro ML] {notification.title}",
            message=f"{notification.body}\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[notification.user.email],
            fail_silently=False,
            is_transient=_is_transient_email_error,
        )
    except resilience.CircuitBreakerError:
        logger.warning("Email of notification %s waits: the mail server is unreachable", notification_id)
        raise EmailUnavailable(notification_id) from None
    except Exception as exc:
        if _is_transient_email_error(exc):
            logger.warning("Email of notification %s waits: %s", notification_id, exc)
            raise EmailUnavailable(notification_id) from exc
        notification.email_status = EmailStatus.FAILED
        notification.email_error = f"{type(exc).__name__}: {exc}"[:2000]
        logger.warning("Email of notification %s failed: %s", notification_id, notification.email_error)
    else:
        notification.email_status = EmailStatus.SENT
        notification.emailed_at = timezone.now()
    notification.save(update_fields=["email_status", "email_error", "emailed_at", "updated_at"])
    return notification


# ---------------------------------------------------------------------------
# Webhooks
# ---------------------------------------------------------------------------
def _disable_if_failing(endpoint: WebhookEndpoint, now) -> None:
    limit = settings.GOVERNANCE_WEBHOOK_MAX_CONSECUTIVE_FAILURES
    if endpoint.is_active and endpoint.consecutive_failures >= limit:
        endpoint.is_active = False
        endpoint.disabled_at = now
        endpoint.disabled_reason = f"Disabled after {endpoint.consecutive_failures} consecutive failed deliveries."
        logger.warning("Webhook endpoint %s disabled: %s", endpoint.pk, endpoint.disabled_reason)


def webhook_message_deliver(*, message_id: int) -> WebhookMessage | None:
    """Make one delivery attempt of a queued message, record it, and schedule the next one (exponential backoff
    with full jitter) or give up. Idempotent: an ended message, or one whose next attempt is not due, is left alone."""
    now = timezone.now()
    with transaction.atomic():
        message = WebhookMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None or not message.is_active:
            return message
        if message.status == WebhookMessageStatus.RUNNING:
            work_transition(message, message.requeue, message="The worker delivering it was lost; it is tried again.")
        if message.next_attempt_at and message.next_attempt_at > now + timedelta(seconds=1):
            return message  # queued early (by the sweep); its retry is already scheduled
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=message.endpoint_id)
        if not endpoint.is_active:
            message.error = "The endpoint is disabled."
            work_transition(message, message.cancel, message=message.error)
            return message
        if not message.attempts_left():
            message.finished_at = now
            work_transition(message, message.fail, message=f"Gave up after {message.attempts} attempts.")
            return message
        message.started_at = message.started_at or now
        work_transition(message, message.start, message=f"Attempt {message.attempts + 1}.")
        url, secret, body, msg_id, attempt = (
            endpoint.url,
            endpoint.secret,
            message.body,
            message.msg_id,
            message.attempts,
        )
    raw = body.encode("utf-8")
    headers = webhooks.build_headers(secret=secret, msg_id=msg_id, timestamp=int(timezone.now().timestamp()), body=raw)
    result = webhooks.deliver(
        url=url,
        body=raw,
        headers=headers,
        timeout=settings.GOVERNANCE_WEBHOOK_TIMEOUT,
        allow_http=settings.GOVERNANCE_WEBHOOK_ALLOW_HTTP,
        allowed_networks=settings.GOVERNANCE_WEBHOOK_ALLOWED_NETWORKS,
        ca_bundle=settings.GOVERNANCE_WEBHOOK_CA_BUNDLE or None,
    )
    return _webhook_attempt_end(message_id=message_id, attempt=attempt, result=result)


@transaction.atomic
def _webhook_attempt_end(*, message_id: int, attempt: int, result: webhooks.DeliveryResult) -> WebhookMessage:
    now = timezone.now()
    message = WebhookMessage.objects.select_for_update().get(pk=message_id)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=message.endpoint_id)
    WebhookDelivery.objects.create(
        message=message,
        endpoint=endpoint,
        attempt=attempt,
        ok=result.ok,
        status_code=result.status_code,
        error=result.error,
        duration_ms=result.duration_ms,
        peer_ip=result.peer_ip,
        response_excerpt=result.response_excerpt,
    )
    if message.status != WebhookMessageStatus.RUNNING:
        return message
    if result.ok:
        endpoint.consecutive_failures = 0
        endpoint.last_success_at = now
        endpoint.save(update_fields=["consecutive_failures", "last_success_at", "updated_at"])
        message.error = ""
        message.finished_at = now
        work_transition(message, message.succeed, message=f"Delivered ({result.status_code}).")
        return message
    endpoint.consecutive_failures += 1
    _disable_if_failing(endpoint, now)
    endpoint.save()
    message.error = result.error
    if not endpoint.is_active:
        message.finished_at = now
        work_transition(message, message.fail, message=f"{result.error}; {endpoint.disabled_reason}")
    elif message.attempts_left():
        delay = webhooks.backoff_seconds(
            message.attempts, base=settings.GOVERNANCE_WEBHOOK_BACKOFF_BASE, cap=settings.GOVERNANCE_WEBHOOK_BACKOFF_CAP
        )
        message.next_attempt_at = now + timedelta(seconds=delay)
        work_transition(message, message.requeue, message=f"{result.error}; retry in {delay:.1f} s.")
        transaction.on_commit(lambda: enqueue("deliver_webhook_message", message_id, countdown=delay))
    else:
        message.finished_at = now
        work_transition(message, message.fail, message=f"{result.error}; gave up after {message.attempts} attempts.")
    return message


def outbox_sweep(*, settle_seconds: int = 120) -> dict[str, int]:
    """Queue again what a lost enqueue left behind: pending emails and due webhook messages older than
    ``settle_seconds``."""
    cutoff = timezone.now() - timedelta(seconds=settle_seconds)
    emails = list(
        Notification.objects.filter(email_status=EmailStatus.PENDING, created_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:500]
    )
    messages = list(
        WebhookMessage.objects.filter(status=WebhookMessageStatus.QUEUED, updated_at__lt=cutoff)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=cutoff))
        .values_list("pk", flat=True)[:500]
    )
    for notification_id in emails:
        enqueue("send_notification_email", notification_id)
    for message_id in messages:
        enqueue("deliver_webhook_message", message_id)
    return {"emails": len(emails), "webhooks": len(messages)}
