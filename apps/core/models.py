from typing import ClassVar

from django.conf import settings
from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField, transition


class TimeStampedModel(models.Model):
    """Abstract base: when a row was created and last changed."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class WorkStatus(models.TextChoices):
    """The states of every kind of background work (training jobs, batch predictions, explanations...)."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_WORK_STATES = [WorkStatus.QUEUED, WorkStatus.RUNNING]
ENDED_WORK_STATES = [WorkStatus.SUCCEEDED, WorkStatus.FAILED, WorkStatus.CANCELLED]


class BackgroundWork(ConcurrentTransitionMixin, TimeStampedModel):
    """Abstract base of work a Celery worker does for a user: one state machine, one history.

    ``status`` moves only through the transitions below (``protected=True``), called as methods by
    services through ``apps.core.work.work_transition``, which saves and appends a row to the concrete
    model's event table (``related_name="events"`` on a :class:`WorkEvent` subclass). Concurrent
    saves of a stale copy fail (``ConcurrentTransitionMixin``) instead of overwriting a newer state.

    ``start`` shows the two declared guards: ``conditions=`` (an attempt ceiling, so a task that keeps
    killing its worker is failed, not redelivered forever) and, in ``TrainingJob.cancel``,
    ``permission=`` (checked by services with ``has_transition_perm``).
    """

    status = FSMField(default=WorkStatus.QUEUED, choices=WorkStatus.choices, protected=True, db_index=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker started this work.")
    celery_task_id = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    max_attempts: ClassVar[int] = 3

    class Meta:
        abstract = True

    def attempts_left(self) -> bool:
        """Condition of ``start``: another attempt is allowed."""
        return self.attempts < self.get_max_attempts()

    def get_max_attempts(self) -> int:
        return self.max_attempts

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_WORK_STATES

    @transition(field=status, source=WorkStatus.QUEUED, target=WorkStatus.RUNNING, conditions=[attempts_left])
    def start(self) -> None:
        """A worker picked the work up: one more attempt."""
        self.attempts += 1

    @transition(field=status, source=WorkStatus.RUNNING, target=WorkStatus.SUCCEEDED)
    def succeed(self) -> None:
        """The work finished and its results are stored."""

    @transition(field=status, source=ACTIVE_WORK_STATES, target=WorkStatus.FAILED)
    def fail(self) -> None:
        """The work stopped with an error."""

    @transition(field=status, source=ACTIVE_WORK_STATES, target=WorkStatus.CANCELLED)
    def cancel(self) -> None:
        """Someone cancelled the work."""

    @transition(field=status, source=WorkStatus.RUNNING, target=WorkStatus.QUEUED)
    def requeue(self) -> None:
        """The worker running it was lost; the work goes back to the queue."""


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk updates and deletes are refused: rows are only ever added."""

    def update(self, **kwargs):
        raise ValueError(f"Rows of {self.model._meta.verbose_name_plural} are append-only.")

    def delete(self):
        raise ValueError(f"Rows of {self.model._meta.verbose_name_plural} are append-only.")


class AppendOnlyModel(models.Model):
    """Abstract base of history rows: saved once, never changed or deleted through the ORM."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError(f"Rows of {self._meta.verbose_name_plural} are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError(f"Rows of {self._meta.verbose_name_plural} are append-only.")


class WorkEvent(AppendOnlyModel):
    """Abstract base of a background work's history: one row per move (from, to, by, when, why).

    A concrete subclass adds the foreign key to its work with ``related_name="events"``.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    from_state = models.CharField(max_length=16)
    to_state = models.CharField(max_length=16)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.TextField(blank=True)

    class Meta:
        abstract = True
        ordering = ["created_at", "id"]


class AuditLogEntry(AppendOnlyModel):
    """One security-relevant event (login, role change, deactivation, denied access...). Append-only."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_username or '-'} {self.action}"
