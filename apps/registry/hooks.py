"""Extension points the apps above the registry plug into (governance for approvals, explain for importances).

The registry must not import those apps, so they register callables here from their
``AppConfig.ready()``::

    from apps.registry import hooks
    hooks.register_approval_provider(state=approval_state_of, history=approval_history_of)
    hooks.register_feature_importance_provider(global_importances_of)

With nothing registered, a version has no approval (so it cannot be deployed), no approval history and
no feature importances: the registry reports exactly that and never makes anything up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.registry.models import ModelVersion

# Approval states from which a version may be (re)deployed.
DEPLOYABLE_APPROVAL_STATES = frozenset({"approved", "deployed"})


@dataclass
class _Providers:
    approval_state: Callable[[ModelVersion], str | None] | None = None
    approval_history: Callable[[ModelVersion], list[dict[str, Any]]] | None = None
    feature_importances: Callable[[ModelVersion], dict[str, float] | None] | None = None


providers = _Providers()


def register_approval_provider(
    *,
    state: Callable[[ModelVersion], str | None],
    history: Callable[[ModelVersion], list[dict[str, Any]]] | None = None,
) -> None:
    """Let the governance app answer "what is this version's approval state" (and its history)."""
    providers.approval_state = state
    providers.approval_history = history


def register_feature_importance_provider(provider: Callable[[ModelVersion], dict[str, float] | None]) -> None:
    """Let the explain app give a version's global feature importances ``{feature: importance}``."""
    providers.feature_importances = provider


def version_approval_state(version: ModelVersion) -> str | None:
    """The state of the version's latest approval request, or None when it has none (or no governance)."""
    if providers.approval_state is None:
        return None
    return providers.approval_state(version)


def version_approval_history(version: ModelVersion) -> list[dict[str, Any]]:
    """``[{from, to, by, at, comment}, ...]`` of the version's approvals; empty without governance."""
    if providers.approval_history is None:
        return []
    return list(providers.approval_history(version) or [])


def version_feature_importances(version: ModelVersion) -> dict[str, float]:
    """Global feature importances of the version when an explanation exists; empty otherwise."""
    if providers.feature_importances is None:
        return {}
    return dict(providers.feature_importances(version) or {})
