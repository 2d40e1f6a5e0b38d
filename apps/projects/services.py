"""Writes and business rules of projects and their membership."""

from __future__ import annotations

from django.db import transaction
from guardian.shortcuts import assign_perm, remove_perm

from apps.accounts.roles import has_capability
from apps.core.exceptions import PermissionDenied, ValidationError
from apps.projects.choices import ProjectRole
from apps.projects.models import Project, ProjectMembership
from apps.projects.permissions import ALL_OBJECT_PERMISSIONS, ROLE_OBJECT_PERMISSIONS


def _sync_object_permissions(*, project: Project, user, role: str | None) -> None:
    """Mirror a membership into guardian object permissions."""
    wanted = set(ROLE_OBJECT_PERMISSIONS[role]) if role else set()
    for codename in ALL_OBJECT_PERMISSIONS:
        if codename in wanted:
            assign_perm(f"projects.{codename}", user, project)
        else:
            remove_perm(f"projects.{codename}", user, project)


@transaction.atomic
def project_create(*, owner, name: str, description: str = "") -> Project:
    """Create a project; its creator becomes its owner."""
    if not has_capability(owner, "projects:create"):
        raise PermissionDenied("Your account's role does not include 'projects:create'.")
    name = (name or "").strip()
    if not name:
        raise ValidationError("A project needs a name.", field="name")
    if Project.objects.filter(owner=owner, name=name).exists():
        raise ValidationError(f"You already have a project named '{name}'.", field="name")
    project = Project(owner=owner, name=name, description=description or "")
    project.full_clean()
    project.save()
    project_member_set(project=project, user=owner, role=ProjectRole.OWNER)
    return project


@transaction.atomic
def project_member_set(*, project: Project, user, role: str) -> ProjectMembership:
    """Add ``user`` to ``project`` with ``role``, or change their role. Keeps guardian in step."""
    if role not in ProjectRole.values:
        raise ValidationError(
            f"'{role}' is not a project role; use one of {', '.join(ProjectRole.values)}.", field="role"
        )
    if not user.is_active:
        raise ValidationError("A deactivated user cannot join a project.", field="user_id")
    membership, created = ProjectMembership.objects.select_for_update().get_or_create(
        project=project, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        if membership.role == ProjectRole.OWNER and role != ProjectRole.OWNER:
            owners = ProjectMembership.objects.filter(project=project, role=ProjectRole.OWNER).count()
            if owners <= 1:
                raise ValidationError("A project keeps at least one owner.", field="role")
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
    _sync_object_permissions(project=project, user=user, role=role)
    return membership
