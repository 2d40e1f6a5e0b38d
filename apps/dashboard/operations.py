"""The operators' summary on the admin index: jobs by state, failures of the last 24 hours, Celery queue
lengths, models in production, approvals waiting and the latest audit entries, with small charts.

``install(admin.site)`` (config/urls.py) makes the admin's index show it; only staff reach that page, and
each part is shown only to an operator allowed to view the objects it counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from django.utils.safestring import mark_safe

from apps.core import charts

logger = logging.getLogger("maestro.admin")

QUEUE_TIMEOUT = 1.0  # seconds to reach the broker before the queue lengths are shown as unknown
AUDIT_SHOWN = 10


def queue_lengths(timeout: float = QUEUE_TIMEOUT) -> dict[str, int | None]:
    """Messages waiting in each Celery queue; None for a queue the broker could not be asked about."""
    from config.celery import app

    names = [queue.name for queue in settings.CELERY_TASK_QUEUES]
    lengths: dict[str, int | None] = dict.fromkeys(names)
    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
            channel = connection.default_channel
            for name in names:
                try:
                    lengths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
                except Exception:  # noqa: BLE001 - a queue never declared yet, or a broker without counts
                    lengths[name] = None
    except Exception:  # noqa: BLE001 - the broker is down: the page still opens and says so
        logger.warning("could not read the Celery queue lengths", exc_info=True)
    return lengths


def operations_summary(user) -> dict[str, Any]:
    from apps.automl.choices import JobStatus
    from apps.automl.models import TrainingJob
    from apps.core.models import AuditLogEntry
    from apps.governance.choices import OPEN_STATES
    from apps.governance.models import ApprovalRequest
    from apps.registry.models import RegisteredModel

    since = timezone.now() - timedelta(hours=24)
    summary: dict[str, Any] = {}
    if user.has_perm("automl.view_trainingjob"):
        by_state = dict(TrainingJob.objects.values_list("status").annotate(n=Count("id")).order_by())
        jobs = [(label, by_state.get(value, 0)) for value, label in JobStatus.choices]
        failed = TrainingJob.objects.filter(status=JobStatus.FAILED, finished_at__gte=since)
        summary["jobs_by_state"] = jobs
        summary["jobs_chart"] = mark_safe(  # noqa: S308 - charts escape every text they draw
            charts.horizontal_bars(jobs, title="Training jobs by state", width=360, label_width=90)
        )
        summary["failures_24h"] = failed.count()
        summary["recent_failures"] = list(failed.select_related("project").order_by("-finished_at")[:5])
    lengths = queue_lengths()
    summary["queues"] = list(lengths.items())
    if any(value is not None for value in lengths.values()):
        summary["queues_chart"] = mark_safe(  # noqa: S308 - charts escape every text they draw
            charts.horizontal_bars(
                [(name, value or 0) for name, value in lengths.items()],
                title="Messages waiting per Celery queue",
                width=360,
                label_width=90,
                color=charts.PALETTE[2],
            )
        )
    if user.has_perm("registry.view_registeredmodel"):
        summary["models_in_production"] = RegisteredModel.objects.filter(production_version__isnull=False).count()
    if user.has_perm("governance.view_approvalrequest"):
        by_state = dict(
            ApprovalRequest.objects.filter(state__in=OPEN_STATES)
            .values_list("state")
            .annotate(n=Count("id"))
            .order_by()
        )
        summary["approvals_waiting"] = sum(by_state.values())
        summary["approvals_by_state"] = [(str(state), by_state.get(state, 0)) for state in OPEN_STATES]
    if user.has_perm("core.view_auditlogentry"):
        summary["audit_entries"] = list(AuditLogEntry.objects.order_by("-created_at", "-id")[:AUDIT_SHOWN])
    return summary


def install(site) -> None:
    """Give ``site`` Maestro ML's titles and an index that shows the operations summary above the apps."""
    site.site_header = "Maestro ML"
    site.site_title = "Maestro ML"
    site.index_title = "Operations"
    site.index_template = "admin/maestro_index.html"
    original: Callable = site.index

    def index(request, extra_context=None):
        return original(
            request, extra_context={"operations": operations_summary(request.user), **(extra_context or {})}
        )

    site.index = index
