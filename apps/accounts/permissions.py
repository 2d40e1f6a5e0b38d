"""DRF permission classes for global role capabilities (``apps.accounts.roles``)."""

from __future__ import annotations

from rest_framework import permissions

from apps.accounts.roles import CAPABILITIES, has_capability


class HasCapability(permissions.BasePermission):
    """The user's global role grants ``capability``. Build one with :func:`capability_required`."""

    capability: str = ""

    def has_permission(self, request, view) -> bool:
        return has_capability(request.user, self.capability)


def capability_required(capability: str) -> type[HasCapability]:
    """``permission_classes = [IsAuthenticated, capability_required("users:manage")]``."""
    if capability not in CAPABILITIES:
        raise ValueError(f"Unknown capability {capability!r}; known: {', '.join(sorted(CAPABILITIES))}")
    name = "Has_" + capability.replace(":", "_")
    message = f"Your account's role does not include '{capability}'."
    return type(name, (HasCapability,), {"capability": capability, "message": message})
