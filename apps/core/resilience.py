"""Degrade, don't fail: circuit breakers around MLflow and the notification channels, retries with backoff.

A breaker counts consecutive transient failures of a dependency (unreachable, timing out, failing inside);
after ``BREAKER_FAIL_MAX`` of them it opens and every call fails at once with :class:`CircuitBreakerError`
(no thread waits on a dead server) until ``BREAKER_RESET_TIMEOUT`` seconds passed; then one call is let
through, and its success closes the breaker again. The state lives in the default cache (Redis in
production), so every web and worker process sees the same breaker and ``/health/deep`` reports it.

Callers treat an open breaker like the dependency being down: work that needs it is kept and retried later
by itself (MLflow tracking of a job, the registry's MLflow sync, webhook deliveries, notification emails),
while everything else goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pybreaker
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger("maestro.resilience")

CircuitBreakerError = pybreaker.CircuitBreakerError
T = TypeVar("T")


class CacheCircuitStorage(pybreaker.CircuitBreakerStorage):
    """A breaker's state in Django's default cache, shared by every process that uses that cache."""

    def __init__(self, name: str) -> None:
        super().__init__(f"cache:{name}")
        self.prefix = f"maestro:breaker:{name}:"

    def _get(self, key: str, default: Any) -> Any:
        try:
            value = cache.get(self.prefix + key)
        except Exception:  # noqa: BLE001 - the cache is down: behave as a closed breaker
            return default
        return default if value is None else value

    def _set(self, key: str, value: Any) -> None:
        try:
            cache.set(self.prefix + key, value, timeout=None)
        except Exception:  # noqa: BLE001
            logger.warning("could not store breaker state %s", self.prefix + key)

    def _incr(self, key: str) -> None:
        try:
            cache.incr(self.prefix + key)
        except ValueError:  # no such key yet
            self._set(key, 1)
        except Exception:  # noqa: BLE001
            logger.warning("could not count on breaker %s", self.prefix + key)

    @property
    def state(self) -> str:
        return self._get("state", pybreaker.STATE_CLOSED)

    @state.setter
    def state(self, state: str) -> None:
        self._set("state", state)

    def increment_counter(self) -> None:
        self._incr("fail")

    def reset_counter(self) -> None:
        self._set("fail", 0)

    def increment_success_counter(self) -> None:
        self._incr("success")

    def reset_success_counter(self) -> None:
        self._set("success", 0)

    @property
    def counter(self) -> int:
        return int(self._get("fail", 0))

    @property
    def success_counter(self) -> int:
        return int(self._get("success", 0))

    @property
    def opened_at(self) -> datetime | None:
        value = self._get("opened_at", None)
        return datetime.fromtimestamp(value, UTC) if value else None

    @opened_at.setter
    def opened_at(self, value: datetime) -> None:
        self._set("opened_at", value.timestamp())


class LogListener(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state, new_state) -> None:
        old = getattr(old_state, "name", old_state)
        level = logging.WARNING if new_state.name == pybreaker.STATE_OPEN else logging.INFO
        logger.log(level, "circuit breaker %s: %s -> %s", cb.name, old, new_state.name, extra={"breaker": cb.name})


_breakers: dict[str, pybreaker.CircuitBreaker] = {}


def breaker(name: str, *, is_transient: Callable[[BaseException], bool] | None = None) -> pybreaker.CircuitBreaker:
    """The breaker called ``name`` (one per process, its state shared through the cache). Failures for which
    ``is_transient`` is false (a refused request, not an unreachable server) do not count."""
    found = _breakers.get(name)
    if found is None:
        exclude = [lambda exc: not is_transient(exc)] if is_transient else []
        found = pybreaker.CircuitBreaker(
            fail_max=settings.BREAKER_FAIL_MAX,
            reset_timeout=settings.BREAKER_RESET_TIMEOUT,
            exclude=exclude,
            listeners=[LogListener()],
            state_storage=CacheCircuitStorage(name),
            name=name,
        )
        _breakers[name] = found
    found.fail_max, found.reset_timeout = settings.BREAKER_FAIL_MAX, settings.BREAKER_RESET_TIMEOUT  # settings rule
    return found


def breaker_states() -> dict[str, dict]:
    """Every breaker this process knows, with its shared state (for ``/health/deep``)."""
    states = {}
    for name in sorted({"mlflow", "email", *_breakers}):
        storage = CacheCircuitStorage(name)
        state = {"state": storage.state, "failures": storage.counter}
        if storage.state != pybreaker.STATE_CLOSED and storage.opened_at:
            state["opened_at"] = storage.opened_at.isoformat()
        states[name] = state
    return states


def call(name: str, function: Callable[..., T], *args, is_transient=None, **kwargs) -> T:
    """``function(*args, **kwargs)`` through the breaker ``name``."""
    return breaker(name, is_transient=is_transient).call(function, *args, **kwargs)


class GuardedClient:
    """Wraps a client object so that every method call goes through a breaker (used for MLflow's client)."""

    def __init__(self, client: Any, *, name: str, is_transient: Callable[[BaseException], bool]) -> None:
        self._client = client
        self._breaker = breaker(name, is_transient=is_transient)

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._client, attribute)
        if not callable(value):
            return value

        def guarded(*args, **kwargs):
            return self._breaker.call(value, *args, **kwargs)

        return guarded


def retrying(*, attempts: int | None = None, retry_on: Callable[[BaseException], bool]) -> Callable:
    """A tenacity decorator: up to ``attempts`` (``RETRY_ATTEMPTS``) tries with exponential backoff and jitter
    (``RETRY_BACKOFF_BASE`` seconds, doubling, at most ``RETRY_BACKOFF_MAX``) while ``retry_on(error)``."""
    import tenacity

    return tenacity.retry(
        stop=tenacity.stop_after_attempt(attempts or settings.RETRY_ATTEMPTS),
        wait=tenacity.wait_random_exponential(multiplier=settings.RETRY_BACKOFF_BASE, max=settings.RETRY_BACKOFF_MAX),
        retry=tenacity.retry_if_exception(retry_on),
        reraise=True,
        before_sleep=lambda state: logger.warning(
            "retrying %s after %s (attempt %s)",
            getattr(state.fn, "__qualname__", state.fn),
            type(state.outcome.exception()).__name__,
            state.attempt_number,
        ),
    )


def breakers_reset() -> None:
    """Close every breaker and forget its counts (operators after an incident; tests between cases)."""
    for name in {"mlflow", "email", *_breakers}:
        storage = CacheCircuitStorage(name)
        try:
            cache.delete_many([storage.prefix + key for key in ("state", "fail", "success", "opened_at")])
        except Exception:  # noqa: BLE001
            logger.warning("could not reset breaker %s", name)
        if name in _breakers:
            _breakers[name].close()
