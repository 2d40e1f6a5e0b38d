"""The one definition of who sees what: every project-scoped read goes through :func:`restrict`.

Objects belong to projects, and visibility is a project matter, but the projects app sits above
core. It registers its rule here from ``AppConfig.ready()`` (``register_project_visibility``), and
core's API base (``apps.core.api.base.ScopedAPIView``) and the page helpers call :func:`restrict`
without knowing how projects decide membership.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    AnyUser = AbstractBaseUser | AnonymousUser

# ``restrict(queryset, user=..., project_field=...)``: rows whose project the user may see.
Restrictor = Callable[..., QuerySet]
# ``check(user=..., project_id=..., project_name=...)``: raise NotFound when the user cannot see it.
Checker = Callable[..., None]

_restrictor: Restrictor | None = None
_checker: Checker | None = None


def register_project_visibility(*, restrict: Restrictor, check: Checker) -> None:
    """Install the rule (once; the projects app does it). A second, different rule is a configuration error."""
    global _restrictor, _checker
    if _restrictor is not None and (_restrictor is not restrict or _checker is not check):
        raise ImproperlyConfigured("A project visibility rule is already registered.")
    _restrictor, _checker = restrict, check


def check_visible(*, user: AnyUser, project_id: int, project_name: str = "") -> None:
    """Raise NotFound unless ``user`` may see project ``project_id``: the same rule as :func:`restrict`,
    as one membership lookup (for hot paths that already know the project id)."""
    if _checker is None:
        raise ImproperlyConfigured("No project visibility rule is registered (is apps.projects installed?).")
    _checker(user=user, project_id=project_id, project_name=project_name)


def restrict(queryset: QuerySet, *, user: AnyUser, project_field: str) -> QuerySet:
    """``queryset`` narrowed to rows of projects ``user`` may see.

    ``project_field`` is the lookup from the queryset's model to its project (``"project"``,
    ``"registered_model__project"``); ``""`` when the model is the project itself.
    """
    if _restrictor is None:
        raise ImproperlyConfigured("No project visibility rule is registered (is apps.projects installed?).")
    return _restrictor(queryset, user=user, project_field=project_field)
