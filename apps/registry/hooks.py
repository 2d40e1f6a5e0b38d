"""Typed extension points the apps above the registry plug into: governance answers "may this version
be deployed, and why", explain gives a version's global feature importances.

The registry must not import those apps, so they register a provider from ``AppConfig.ready()``::

    from apps.registry import hooks
    hooks.register_approval_provider(approvals_of)          # (versions) -> {version_id: Approval}
    hooks.register_feature_importance_provider(importances_of)  # (versions) -> {version_id: {feature: value}}
    hooks.register_deploy_authorizer(DeployAuthorizer(check_actor=..., authorize=...))  # the deploy rule
    hooks.register_prediction_listener(PredictionListener(online=..., batch=...))  # monitoring's prediction log
    hooks.register_explanation_state_provider(states_of)  # explain: (versions) -> {version_id: ExplanationState}
    hooks.register_explanation_listener(rerun_checks)  # governance: (*, version_id, status) once one has ended

Providers answer for many versions at once, so list pages cost one query, not one per row. With
nothing registered, a version has no approval (it cannot be deployed) and no importances: the
registry reports exactly that and never makes anything up. Tests swap providers with
:func:`override`, never by editing module state.

The deploy authorizer replaces the registry's own deploy rule (an editor holding ``models:deploy``, and a
deployable approval) for every way into production: ``POST models/{id}/deploy``, ``POST automl/jobs/{id}/deploy``,
``POST registered-models/{id}/deploy|rollback`` and the pages. It belongs with the approval provider: overriding
the approval provider alone (``override(approvals=...)``) also sets the authorizer aside for the block, so a stand-in
approval is judged by the registry's own rule, not by governance rules that look for requests that do not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("maestro.registry")

if TYPE_CHECKING:
    from apps.registry.models import ModelVersion


@dataclass(frozen=True)
class Approval:
    """What governance says of one version: its latest request's state and whether it may be deployed.

    ``reason`` says why not (shown to users in the 409); ``history`` is ``[{from, to, by, at, comment}]``.
    """

    state: str | None
    deployable: bool
    reason: str = ""
    history: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    request_id: int | None = None


NO_APPROVAL = Approval(state=None, deployable=False, reason="it has no approved approval request")


@dataclass(frozen=True)
class ExplanationState:
    """Where a version's global explanation stands, as explain tells it: ``status`` is ``none`` (never asked),
    ``queued``, ``running``, ``succeeded`` (one exists; a newer one may be on its way) or ``failed`` (the latest
    failed, with its ``error``, and none succeeded)."""

    status: str
    explanation_id: int | None = None
    progress: float | None = None
    eta_at: Any = None
    error: str = ""
    standard_errors: Mapping[str, float] = field(default_factory=dict)  # of the succeeded one's importances

    @property
    def on_its_way(self) -> bool:
        return self.status in ("queued", "running")


NO_EXPLANATION = ExplanationState(status="none")
ExplanationStateProvider = Callable[[Sequence["ModelVersion"]], Mapping[int, ExplanationState]]

ApprovalProvider = Callable[[Sequence["ModelVersion"]], Mapping[int, Approval]]
FeatureImportanceProvider = Callable[[Sequence["ModelVersion"]], Mapping[int, Mapping[str, float]]]


@dataclass(frozen=True)
class DeployAuthorizer:
    """Who may put a version in production, and whether this one may go now: the rule of the app above.

    - ``check_actor(*, project, user)`` runs first, before any row is locked or any state looked at: raise
      ``PermissionDenied`` when ``user`` may never deploy in ``project`` (so they get 403 whatever the state).
    - ``authorize(*, version, user, action, comment)`` runs inside the deployment's transaction with the registered
      model and ``version`` locked, before the registry's own state checks; ``action`` is ``"deploy"`` or
      ``"rollback"``. Raise ``PermissionDenied`` (403) or ``Conflict`` (409) to refuse. It may record the decision in
      the same transaction (governance moves the approval request to ``deployed``): if the deployment then fails,
      that record is rolled back with it.
    """

    check_actor: Callable[..., None]
    authorize: Callable[..., None]


@dataclass(frozen=True)
class PredictionListener:
    """What the app above (monitoring) does with predictions once they are made; it must never block or fail them.

    - ``online(*, version, instances, predictions, probabilities, caller_id, latency_ms)`` runs on the request path
      right after an online prediction: it may only hand the rows to background work, and answers one public
      prediction id per row (None for a row it did not log), or None when it logs nothing (not a production
      version, monitoring off). The ids are returned to the client as ``prediction_ids``.
    - ``batch(*, version, output, batch_id, caller_id)`` runs in the worker after a batch prediction was made;
      ``output`` is the batch's frame (inputs, ``prediction``, ``probability_<class>`` columns).

    Exceptions are logged by the registry and swallowed: serving never depends on monitoring.
    """

    online: Callable[..., Sequence[str | None] | None]
    batch: Callable[..., None]


@dataclass
class _Providers:
    approvals: ApprovalProvider | None = None
    feature_importances: FeatureImportanceProvider | None = None
    deploy_authorizer: DeployAuthorizer | None = None
    prediction_listener: PredictionListener | None = None
    explanation_states: ExplanationStateProvider | None = None
    explanation_listeners: list[Callable[..., None]] = field(default_factory=list)


_providers = _Providers()


def _register(slot: str, provider: Callable) -> None:
    current = getattr(_providers, slot)
    if current is not None and current is not provider:
        raise ImproperlyConfigured(f"A {slot} provider is already registered ({current!r}); use hooks.override().")
    setattr(_providers, slot, provider)


def register_approval_provider(provider: ApprovalProvider) -> None:
    """Governance answers, for many versions at once, ``{version_id: Approval}`` (missing ids: no approval)."""
    _register("approvals", provider)


def register_feature_importance_provider(provider: FeatureImportanceProvider) -> None:
    """Explain answers, for many versions at once, ``{version_id: {feature: importance}}``."""
    _register("feature_importances", provider)


def register_deploy_authorizer(authorizer: DeployAuthorizer) -> None:
    """Governance decides who deploys what, in place of the registry's own rule (see :class:`DeployAuthorizer`)."""
    _register("deploy_authorizer", authorizer)


def register_prediction_listener(listener: PredictionListener) -> None:
    """Monitoring records the predictions of production versions (see :class:`PredictionListener`)."""
    _register("prediction_listener", listener)


def register_explanation_state_provider(provider: ExplanationStateProvider) -> None:
    """Explain answers, for many versions at once, where their global explanations stand."""
    _register("explanation_states", provider)


def register_explanation_listener(listener: Callable[..., None]) -> None:
    """``listener(*, version_id, status)`` runs once a version's global explanation has ended (after commit)."""
    if listener not in _providers.explanation_listeners:
        _providers.explanation_listeners.append(listener)


_UNSET: Any = object()


@contextmanager
def override(
    *,
    approvals: ApprovalProvider | None = None,
    feature_importances: FeatureImportanceProvider | None = None,
    deploy_authorizer: DeployAuthorizer | None = _UNSET,
    prediction_listener: PredictionListener | None = _UNSET,
    explanation_states: ExplanationStateProvider | None = None,
) -> Iterator[None]:
    """Swap providers for the duration of a ``with`` block (tests, management commands), then restore them.

    ``deploy_authorizer=None`` sets the authorizer aside (the registry's own rule applies). Not given, it is set
    aside too when ``approvals`` is overridden (the two belong together), and kept otherwise.
    """
    saved = (
        _providers.approvals,
        _providers.feature_importances,
        _providers.deploy_authorizer,
        _providers.prediction_listener,
        _providers.explanation_states,
    )
    if approvals is not None:
        _providers.approvals = approvals
        if deploy_authorizer is _UNSET:
            _providers.deploy_authorizer = None
    if feature_importances is not None:
        _providers.feature_importances = feature_importances
    if deploy_authorizer is not _UNSET:
        _providers.deploy_authorizer = deploy_authorizer
    if prediction_listener is not _UNSET:  # None: predictions are not recorded in the block
        _providers.prediction_listener = prediction_listener
    if explanation_states is not None:
        _providers.explanation_states = explanation_states
    try:
        yield
    finally:
        (
            _providers.approvals,
            _providers.feature_importances,
            _providers.deploy_authorizer,
            _providers.prediction_listener,
            _providers.explanation_states,
        ) = saved


def deploy_authorizer() -> DeployAuthorizer | None:
    """The registered deploy rule of the app above, or None: then the registry's own rule applies."""
    return _providers.deploy_authorizer


def approvals_for(versions: Iterable[ModelVersion]) -> dict[int, Approval]:
    """``{version_id: Approval}`` for every version given (NO_APPROVAL where governance has none)."""
    versions = list(versions)
    answers = dict(_providers.approvals(versions) or {}) if _providers.approvals and versions else {}
    return {version.pk: answers.get(version.pk, NO_APPROVAL) for version in versions}


def approval_for(version: ModelVersion) -> Approval:
    """The approval of one version."""
    return approvals_for([version])[version.pk]


def feature_importances_for(versions: Iterable[ModelVersion]) -> dict[int, dict[str, float]]:
    """``{version_id: {feature: importance}}``, empty for versions without a global explanation."""
    versions = list(versions)
    answers = dict(_providers.feature_importances(versions) or {}) if _providers.feature_importances else {}
    return {version.pk: dict(answers.get(version.pk) or {}) for version in versions}


def feature_importances_of(version: ModelVersion) -> dict[str, float]:
    return feature_importances_for([version])[version.pk]


def explanation_state_of(version: ModelVersion) -> ExplanationState:
    """Where ``version``'s global explanation stands (NO_EXPLANATION with no provider)."""
    provider = _providers.explanation_states
    answers = dict(provider([version]) or {}) if provider else {}
    return answers.get(version.pk, NO_EXPLANATION)


def global_explanation_ended(*, version_id: int, status: str) -> None:
    """Tell the listeners that a version's global explanation has ended (succeeded or failed). Never raises: a
    listener's failure is logged, and the explanation stands."""
    for listener in list(_providers.explanation_listeners):
        try:
            listener(version_id=version_id, status=status)
        except Exception:
            logger.exception("An explanation listener failed on version id=%s", version_id)


def online_predictions_made(
    *,
    version: ModelVersion,
    instances: Sequence[Mapping[str, Any]],
    predictions: Sequence[Any],
    probabilities: Sequence[Sequence[float]] | None,
    caller_id: int | None,
    latency_ms: float | None = None,
) -> list[str | None] | None:
    """Tell the prediction listener about an online prediction; answers its prediction ids (or None). Never raises."""
    listener = _providers.prediction_listener
    if listener is None:
        return None
    try:
        ids = listener.online(
            version=version,
            instances=instances,
            predictions=predictions,
            probabilities=probabilities,
            caller_id=caller_id,
            latency_ms=latency_ms,
        )
    except Exception:
        logger.exception("The prediction listener failed on version id=%s; the prediction is served", version.pk)
        return None
    return list(ids) if ids is not None else None


def batch_predictions_made(*, version: ModelVersion, output: Any, batch_id: int, caller_id: int | None) -> None:
    """Tell the prediction listener about a finished batch prediction's rows. Never raises."""
    listener = _providers.prediction_listener
    if listener is None:
        return
    try:
        listener.batch(version=version, output=output, batch_id=batch_id, caller_id=caller_id)
    except Exception:
        logger.exception("The prediction listener failed on batch prediction %s; the batch is kept", batch_id)
