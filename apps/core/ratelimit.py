"""Rate limits, counted in the cache by django-ratelimit (Redis in production, shared by every process).

Rates are settings read when a request is checked (``RATELIMIT_LOGIN``, ``RATELIMIT_REGISTER``,
``RATELIMIT_API``, ``RATELIMIT_AUTOML_JOBS``; each settable by environment), so operators tune them
without code and tests lower them with pytest-django's ``settings`` fixture. A request over a limit
answers 429 with a ``Retry-After`` that says when the current window ends.

- ``ApiRateThrottle`` is the default DRF throttle of every API view (``RATELIMIT_API`` per user).
- ``ratelimit_enforce`` counts one request against several limits at once (sign-in: per IP and per
  user name) and raises ``RateLimited`` carrying its ``retry_after``.
- Views limited with ``django_ratelimit.decorators.ratelimit(..., block=True)`` raise a plain
  ``Ratelimited``; the API exception handler then asks :func:`retry_after_for` how long the
  registered groups (``RATE_GROUPS``) still block.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

from django.conf import settings
from django_ratelimit import ALL
from django_ratelimit.core import get_usage
from django_ratelimit.exceptions import Ratelimited
from rest_framework.throttling import BaseThrottle

RATE_PATTERN = re.compile(r"^(?P<count>\d+)/(?P<multiplier>\d*)(?P<unit>[smhd])$")
PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_RETRY_AFTER = 60
logger = logging.getLogger("maestro.api")

# Groups limited with django-ratelimit's decorator elsewhere: group -> (key, name of the rate setting).
RATE_GROUPS: dict[str, tuple[str, str]] = {
    "automl-jobs": ("user", "RATELIMIT_AUTOML_JOBS"),
}


class RateLimited(Ratelimited):
    """Too many requests: answered 429 with ``Retry-After: retry_after`` seconds."""

    def __init__(self, retry_after: int, detail: str | None = None):
        self.retry_after = max(1, int(retry_after))
        self.detail = detail or f"Too many requests; retry in {self.retry_after} seconds."
        super().__init__(self.detail)


def parse_rate(rate: str) -> tuple[int, int]:
    """``"5/m"`` -> ``(5, 60)``; ``"10/2h"`` -> ``(10, 7200)``. Raises ValueError for anything else."""
    match = RATE_PATTERN.match(str(rate).strip())
    if not match:
        raise ValueError(f"{rate!r} is not a rate like '5/m', '100/m', '10/h' or '1000/d'")
    seconds = PERIOD_SECONDS[match["unit"]] * int(match["multiplier"] or 1)
    return int(match["count"]), seconds


def setting_rate(name: str) -> Callable:
    """A django-ratelimit ``rate`` callable that reads ``settings.<name>`` on every request.

    ``ratelimit(group="automl-jobs", key="user", rate=setting_rate("RATELIMIT_AUTOML_JOBS"), block=True)``
    follows a changed setting (e.g. a test lowering it); ``rate=settings.X`` is frozen at import.
    """

    def rate(group: str, request) -> str:
        return getattr(settings, name)

    rate.__name__ = rate.__qualname__ = f"setting_rate_{name.lower()}"
    return rate


def ratelimit_hit(request, *, group: str, key: str | Callable, rate: str) -> dict | None:
    """Count one request in ``group``; django-ratelimit's usage dict, or None when limits are off."""
    return get_usage(request, group=group, key=key, rate=rate, method=ALL, increment=True)


def ratelimit_enforce(request, *, limits: Iterable[tuple[str, str | Callable, str]]) -> None:
    """Count the request against every ``(group, key, rate)``; raise RateLimited if any is exceeded.

    Every limit is counted even when an earlier one is already exceeded, so per-IP and per-name
    counters both see the attempt.
    """
    waits = []
    for group, key, rate in limits:
        usage = ratelimit_hit(request, group=group, key=key, rate=rate)
        if usage and usage["should_limit"]:
            waits.append(usage["time_left"])
    if waits:
        raise RateLimited(max(waits))


def retry_after_for(request) -> int:
    """Seconds until the registered groups that block ``request`` open again (a decorator's 429)."""
    waits = []
    for group, (key, setting) in RATE_GROUPS.items():
        rate = getattr(settings, setting, None)
        if not rate:
            continue
        try:
            usage = get_usage(request, group=group, key=key, rate=rate, method=ALL, increment=False)
        except Exception:  # noqa: BLE001, S112 - a group that cannot be evaluated for this request is not the one
            continue
        if usage and usage["should_limit"]:
            waits.append(usage["time_left"] if usage["time_left"] > 0 else parse_rate(rate)[1])
    return max(1, max(waits)) if waits else DEFAULT_RETRY_AFTER


class ApiRateThrottle(BaseThrottle):
    """Default limit of every API view: ``settings.RATELIMIT_API`` per user (per IP when anonymous)."""

    group = "api"
    rate_setting = "RATELIMIT_API"

    def allow_request(self, request, view) -> bool:
        self._wait = None
        try:
            usage = ratelimit_hit(
                request, group=self.group, key="user_or_ip", rate=getattr(settings, self.rate_setting)
            )
        except Exception as exc:
            from apps.core.middleware import unavailable_dependency

            if unavailable_dependency(exc) != "cache":
                raise
            # The cache (Redis) is down: the general API limit lets the request through rather than take
            # every read down with it. Sign-in limits (``ratelimit_enforce``) still refuse, with a 503.
            logger.warning("API rate limit not counted, the cache is unavailable: %s: %s", type(exc).__name__, exc)
            return True
        if not usage or not usage["should_limit"]:
            return True
        self._wait = max(1, usage["time_left"])
        return False

    def wait(self) -> float | None:
        return self._wait
