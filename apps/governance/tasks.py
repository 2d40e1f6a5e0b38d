"""Celery tasks of governance (queue ``default``): thin, take ids, call one service, retry only transient errors."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from apps.governance.mlflow_tags import MirrorRetry
from apps.governance.notify import EmailUnavailable

TRANSIENT_DB = (OperationalError, InterfaceError)


@shared_task(
    name="apps.governance.tasks.run_approval_checks",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_DB,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=600,
    time_limit=700,
)
def run_approval_checks(run_id: int) -> str | None:
    from apps.governance.services import check_run_execute

    run = check_run_execute(run_id=run_id)
    return run.status if run else None


@shared_task(
    name="apps.governance.tasks.deliver_webhook_message",
    autoretry_for=TRANSIENT_DB,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=60,
    time_limit=90,
)
def deliver_webhook_message(message_id: int) -> str | None:
    """One attempt; the service schedules the next one itself (backoff with jitter) when this one fails."""
    from apps.governance.notify import webhook_message_deliver

    message = webhook_message_deliver(message_id=message_id)
    return message.status if message else None


@shared_task(
    name="apps.governance.tasks.send_notification_email",
    autoretry_for=(*TRANSIENT_DB, EmailUnavailable),  # the mail server is unreachable: the email waits
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=8,
    soft_time_limit=60,
    time_limit=90,
)
def send_notification_email(notification_id: int) -> str | None:
    from apps.governance.notify import notification_email_send

    notification = notification_email_send(notification_id=notification_id)
    return notification.email_status if notification else None


@shared_task(
    name="apps.governance.tasks.mirror_approval_state_to_mlflow",
    autoretry_for=(MirrorRetry, *TRANSIENT_DB),
    retry_backoff=15,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=10,
    soft_time_limit=120,
    time_limit=180,
)
def mirror_approval_state_to_mlflow(version_id: int) -> str | None:
    from apps.governance.mlflow_tags import approval_state_mirror

    return approval_state_mirror(version_id=version_id)


@shared_task(name="apps.governance.tasks.send_approval_reminders")
def send_approval_reminders() -> int:
    from apps.governance.services import approval_reminders_send

    return len(approval_reminders_send())


@shared_task(name="apps.governance.tasks.sweep_governance_outbox")
def sweep_governance_outbox() -> dict:
    from apps.governance.notify import outbox_sweep

    return outbox_sweep()
