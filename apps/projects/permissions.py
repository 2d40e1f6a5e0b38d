"""The per-object permission layer every project-scoped API uses.

Project roles live in ``ProjectMembership`` and are mirrored into django-guardian object
permissions on the project (``view_project`` / ``change_project`` / ``manage_project``).
Rules: an object of a project the user cannot see answers 404; a visible object the user may not
act on answers 403. Global role capabilities (``apps.accounts.roles``) are checked on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from apps.accounts.roles import has_capability, is_platform_admin
from apps.core.exceptions import NotFound, PermissionDenied
from apps.projects.choices import ProjectRole
from apps.projects.models import Project, ProjectMembership

if TYPE_CHECKING:
    from apps.accounts.models import User

ROLE_RANK = {ProjectRole.VIEWER: 1, ProjectRole.EDITOR: 2, ProjectRole.OWNER: 3}
ROLE_OBJECT_PERMISSIONS = {
    ProjectRole.VIEWER: ["view_project"],
    ProjectRole.EDITOR: ["view_project", "change_project"],
    ProjectRole.OWNER: ["view_project", "change_project", "manage_project"],
}
ALL_OBJECT_PERMISSIONS = ["view_project", "change_project", "manage_project"]


def projects_visible_to(*, user: User) -> QuerySet[Project]:
    """Every project ``user`` may see: those they are a member of; all of them for platform admins."""
    if is_platform_admin(user):
        return Project.objects.all()
    return Project.objects.filter(pk__in=_member_project_ids(user))


def _member_project_ids(user: User) -> QuerySet:
    """The ids of the projects ``user`` is a member of, as a subquery (no query of its own).

    Memberships are the source of truth (the guardian object permissions mirror them, see
    ``project_member_set``), so this is the same set guardian's ``get_objects_for_user(user,
    "projects.view_project")`` answers, without the permission and content-type lookups it makes first.
    """
    if not user or not user.is_authenticated or not user.is_active:
        return ProjectMembership.objects.none().values("project_id")
    return ProjectMembership.objects.filter(user_id=user.pk).values("project_id")


def project_role(*, user: User, project: Project) -> str | None:
    """``user``'s role in ``project`` (platform admins act as owners), or None."""
    if is_platform_admin(user):
        return ProjectRole.OWNER
    membership = ProjectMembership.objects.filter(project=project, user=user).only("role").first()
    return membership.role if membership else None


def check_project_access(
    *, user: User, project: Project, minimum: str = ProjectRole.VIEWER, capability: str | None = None
) -> None:
    """Raise NotFound when ``user`` cannot see ``project``, PermissionDenied when they may not act.

    ``minimum`` is the least project role needed; ``capability`` a global role capability also needed.
    """
    role = project_role(user=user, project=project)
    if role is None:
        raise NotFound("Not found.")
    if ROLE_RANK[role] < ROLE_RANK[minimum]:
        raise PermissionDenied(f"This needs the {minimum} role in project '{project.name}'; you are {role}.")
    if capability and not has_capability(user, capability):
        raise PermissionDenied(f"Your account's role does not include '{capability}'.")


def check_project_visible(*, user: User, project_id: int, project_name: str = "") -> None:
    """NotFound unless ``user`` may see project ``project_id`` (one membership lookup)."""
    check_project_access(user=user, project=Project(pk=project_id, name=project_name))


def scope_to_visible_projects(queryset: QuerySet, *, user: User, project_field: str = "project") -> QuerySet:
    """Narrow ``queryset`` to rows whose ``project_field`` is a project ``user`` may see (``""``: the project).

    The one rule of visibility, registered with ``apps.core.scoping`` so every API view and page uses it.
    """
    if is_platform_admin(user):
        return queryset
    lookup = f"{project_field}__in" if project_field else "pk__in"
    return queryset.filter(**{lookup: _member_project_ids(user)})


def user_may(user: User, project: Project, *, minimum: str = ProjectRole.VIEWER, capability: str | None = None) -> bool:
    """Whether ``user`` may act in ``project`` with at least the ``minimum`` role (and ``capability``).

    The yes/no form of :func:`check_project_access`, for pages deciding which buttons to show.
    """
    try:
        check_project_access(user=user, project=project, minimum=minimum, capability=capability)
    except (NotFound, PermissionDenied):
        return False
    return True
