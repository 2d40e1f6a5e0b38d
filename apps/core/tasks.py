from celery import shared_task


@shared_task(name="apps.core.tasks.ping", acks_late=False)
def ping(payload: str = "pong") -> str:
    """Round-trip check of broker, worker and result backend (used by `manage.py serve` and tests)."""
    return payload
