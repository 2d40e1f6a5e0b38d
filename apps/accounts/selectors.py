"""Reads of user accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.accounts.models import User
from apps.accounts.roles import Role


def users_list(*, role: str | None = None, is_active: bool | None = None, search: str | None = None) -> QuerySet[User]:
    """Every account (for administrators), optionally narrowed by role, activity or a name fragment."""
    users = User.objects.prefetch_related("groups").order_by("id")
    if role:
        users = users.filter(groups__name=role)
    if is_active is not None:
        users = users.filter(is_active=is_active)
    if search:
        users = users.filter(username__icontains=search)
    return users


def active_admins(*, exclude: User | None = None) -> QuerySet[User]:
    """Active superusers and members of the ``admin`` role, optionally without ``exclude``."""
    admins = User.objects.filter(is_active=True).filter(is_superuser=True) | User.objects.filter(
        is_active=True, groups__name=Role.ADMIN
    )
    if exclude is not None:
        admins = admins.exclude(pk=exclude.pk)
    return admins.distinct()
