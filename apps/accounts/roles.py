"""Global roles (Django groups) and the capabilities each one grants.

A capability is a name clients and docs use (``automl:run``) for a Django model permission
(``automl.add_trainingjob``). What a user may do inside a project also depends on their project
role (owner / editor / viewer, see ``apps.projects.permissions``): both must allow an action.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    ML_ENGINEER = "ml_engineer", "ML engineer"
    REVIEWER = "reviewer", "Reviewer"
    VIEWER = "viewer", "Viewer"


DEFAULT_ROLE = Role.VIEWER

CAPABILITIES: dict[str, str] = {
    "projects:create": "projects.add_project",
    "datasets:upload": "projects.add_dataset",
    "datasets:delete": "projects.delete_dataset",
    "automl:run": "automl.add_trainingjob",
    "automl:cancel": "automl.change_trainingjob",
    "models:edit": "registry.change_modelversion",
    "models:predict": "registry.add_batchprediction",
    "models:deploy": "registry.deploy_modelversion",
    "models:delete": "registry.delete_modelversion",
    "users:manage": "accounts.change_user",
    "audit:view": "core.view_auditlogentry",
    "approvals:review": "governance.review_approvalrequest",
    "approvals:queue": "governance.view_approvalrequest",
}

ROLE_CAPABILITIES: dict[str, set[str]] = {
    Role.VIEWER: set(),
    Role.REVIEWER: {"approvals:review"},
    Role.ML_ENGINEER: {
        "projects:create",
        "datasets:upload",
        "datasets:delete",
        "automl:run",
        "automl:cancel",
        "models:edit",
        "models:predict",
        "models:deploy",
    },
    Role.ADMIN: set(CAPABILITIES),
}


def role_permission_codes(role: str) -> set[str]:
    """The ``app_label.codename`` permissions a role's group holds."""
    return {CAPABILITIES[capability] for capability in ROLE_CAPABILITIES[role]}


def has_capability(user, capability: str) -> bool:
    """Whether ``user``'s global role grants ``capability`` (superusers have every one)."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.has_perm(CAPABILITIES[capability])


def is_platform_admin(user) -> bool:
    """Operators: superusers and members of the ``admin`` role see every project."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    known = getattr(user, PLATFORM_ADMIN_ATTRIBUTE, None)  # read with the account by the API's authentication
    if known is not None:
        return bool(known)
    return user.groups.filter(name=Role.ADMIN).exists()


# Set on a user object read for one request only (``apps.accounts.authentication``): whether the account
# is in the admin role, read in the same query as the account, so permission checks ask no more.
PLATFORM_ADMIN_ATTRIBUTE = "maestro_platform_admin"


def platform_admin_annotation():
    """``User.objects.annotate(**{PLATFORM_ADMIN_ATTRIBUTE: platform_admin_annotation()})``."""
    from django.contrib.auth.models import Group
    from django.db.models import Exists, OuterRef

    return Exists(Group.objects.filter(name=Role.ADMIN, user=OuterRef("pk")))


def role_groups_sync(group_model, permission_model) -> None:
    """Create the role groups and give each exactly its permissions. Idempotent (used by migrations).

    A permission that does not exist yet is skipped: its app's migrations come later in the plan than the migration
    running this, and the migration that added the capability (e.g. governance's ``0002_role_groups_approvals``)
    runs this again once it exists.
    """
    for role in Role:
        group, _ = group_model.objects.get_or_create(name=role.value)
        permissions = []
        for code in sorted(role_permission_codes(role)):
            app_label, codename = code.split(".", 1)
            permission = permission_model.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission is not None:
                permissions.append(permission)
        group.permissions.set(permissions)
