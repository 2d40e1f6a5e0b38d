"""One wording for "this cannot be deleted while other rows depend on it" (409), used by every service
and, as a backstop, by the API exception handler for a ``ProtectedError`` no service caught."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from django.db.models import Model, ProtectedError, RestrictedError

from apps.core.exceptions import Conflict


def describe_dependents(objects: Iterable[Model]) -> str:
    """``"2 training jobs, 1 model version"``: what depends on a row, counted by kind."""
    counts = Counter(type(obj)._meta for obj in objects)
    parts = [
        f"{count} {meta.verbose_name if count == 1 else meta.verbose_name_plural}"
        for meta, count in sorted(counts.items(), key=lambda item: str(item[0].verbose_name))
    ]
    return ", ".join(parts)


def dependents_of(exc: ProtectedError | RestrictedError) -> set[Model]:
    return set(getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", None) or ())


def delete_refused(
    subject: str, exc: ProtectedError | RestrictedError, *, relation: str = "is used by", hint: str = ""
) -> Conflict:
    """The 409 for deleting ``subject`` (``"Dataset 'iris'"``) while rows depend on it: ``relation`` reads
    ``"is used by"`` (a dataset used by jobs) or ``"still has"`` (a project that still has datasets)."""
    message = f"{subject} {relation} {describe_dependents(dependents_of(exc))}; it cannot be deleted."
    if hint:
        message = f"{message} {hint}"
    return Conflict(message, extra={"dependents": sorted({type(obj)._meta.label_lower for obj in dependents_of(exc)})})
