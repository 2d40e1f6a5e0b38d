"""Moving background work through its state machine: one helper performs a named transition, saves
the row and records the move, so every kind of work has the same history."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from apps.core.models import BackgroundWork, WorkEvent


def work_transition(
    work: BackgroundWork,
    transition: Callable[[], None],
    *,
    by: AbstractBaseUser | None = None,
    message: str = "",
) -> WorkEvent:
    """Call ``transition`` (a bound transition method of ``work``, e.g. ``job.start``), save ``work`` and
    append the move to its history. Callers hold the row (``select_for_update``) inside ``atomic()``.

    Raises ``TransitionNotAllowed`` when the machine forbids the move (the API answers 409).
    """
    if getattr(transition, "__self__", None) is not work or not hasattr(transition, "_django_fsm"):
        raise TypeError("work_transition takes a transition method bound to the work, like job.start")
    from_state = work.status
    transition()
    work.save()
    return work.events.create(from_state=from_state, to_state=work.status, by=by, message=message[:10_000])


def work_created(work: BackgroundWork, *, by: AbstractBaseUser | None = None, message: str = "") -> WorkEvent:
    """Record that ``work`` was created (the first row of its history: from nothing to its first state)."""
    return work.events.create(from_state="", to_state=work.status, by=by, message=message[:10_000])
