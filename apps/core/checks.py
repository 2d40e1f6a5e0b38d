"""System checks of the rate-limit set-up (``manage.py check``; ``check --deploy`` in CI).

django-ratelimit ships checks of its own, but they compare the cache BACKEND string with a fixed
list and cannot see through django-prometheus' instrumented wrappers (every backend here is one),
so they would flag a Redis cache as unsupported and a local-memory cache not at all. These checks
look at the wrapped backend instead:

- a dummy cache counts nothing: error;
- a file or database cache increments without atomicity: warning (counts may be lost under load);
- a local-memory cache counts per process: fine for the embedded default (one machine), an error
  where ``RATELIMIT_REQUIRE_SHARED_CACHE`` is set (production, several web processes and replicas);
- every ``RATELIMIT_*`` rate setting must parse ("5/m", "100/m", "10/h").
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from apps.core.ratelimit import parse_rate

# django-ratelimit's own RATELIMIT_* settings and ours that are not rates; every other RATELIMIT_* is a rate.
NOT_RATES = {
    "RATELIMIT_ENABLE",
    "RATELIMIT_USE_CACHE",
    "RATELIMIT_CACHE_PREFIX",
    "RATELIMIT_IP_META_KEY",
    "RATELIMIT_IPV4_MASK",
    "RATELIMIT_IPV6_MASK",
    "RATELIMIT_HASH_ALGORITHM",
    "RATELIMIT_EXCEPTION_CLASS",
    "RATELIMIT_FAIL_OPEN",
    "RATELIMIT_VIEW",
    "RATELIMIT_REQUIRE_SHARED_CACHE",
}


def rate_settings() -> list[str]:
    """Names of the rate settings (RATELIMIT_LOGIN, RATELIMIT_API, RATELIMIT_AUTOML_JOBS, ...)."""
    return sorted({name for name in dir(settings) if name.startswith("RATELIMIT_") and name not in NOT_RATES})


def underlying_cache_backend(backend: str) -> str:
    """The cache class a django-prometheus wrapper instruments, or ``backend`` itself."""
    wrapped = {value: key for key, value in getattr(settings, "PROMETHEUS_CACHE_BACKENDS", {}).items()}
    if backend in wrapped:
        return wrapped[backend]
    if backend.startswith("django_prometheus.cache.backends."):
        kind = backend.rsplit(".", 2)[-2]
        return {
            "locmem": "django.core.cache.backends.locmem.LocMemCache",
            "filebased": "django.core.cache.backends.filebased.FileBasedCache",
            "redis": "django.core.cache.backends.redis.RedisCache",
            "memcached": "django.core.cache.backends.memcached.PyMemcacheCache",
        }.get(kind, backend)
    return backend


@checks.register(checks.Tags.caches, "maestro")
def check_ratelimit_cache(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    cache_name = getattr(settings, "RATELIMIT_USE_CACHE", "default")
    config = settings.CACHES.get(cache_name)
    if config is None:
        return [checks.Error(f"RATELIMIT_USE_CACHE names {cache_name!r}, which is not in CACHES.", id="maestro.E101")]
    backend = underlying_cache_backend(config["BACKEND"])
    if backend.endswith(".DummyCache"):
        messages.append(
            checks.Error(
                f"The rate-limit cache {cache_name!r} is a dummy cache: no limit would ever trigger.",
                hint="Set CACHE_URL to Redis (redis://host:6379/2) or leave it unset for local memory.",
                id="maestro.E102",
            )
        )
    elif backend.endswith((".FileBasedCache", ".DatabaseCache")):
        messages.append(
            checks.Warning(
                f"The rate-limit cache {cache_name!r} ({backend}) does not increment atomically; "
                "concurrent requests may be under-counted.",
                hint="Use Redis for CACHE_URL.",
                id="maestro.W103",
            )
        )
    elif backend.endswith(".LocMemCache") and getattr(settings, "RATELIMIT_REQUIRE_SHARED_CACHE", False):
        messages.append(
            checks.Error(
                f"The rate-limit cache {cache_name!r} is local memory: each process would count on its own.",
                hint="Production needs a cache every web process shares: set CACHE_URL=redis://redis:6379/2.",
                id="maestro.E104",
            )
        )
    for name in rate_settings():
        value = getattr(settings, name)
        try:
            parse_rate(value)
        except ValueError as exc:
            messages.append(checks.Error(f"{name}: {exc}.", id="maestro.E105"))
    return messages
