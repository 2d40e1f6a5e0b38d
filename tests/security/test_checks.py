"""System checks of the rate-limit cache and rates."""

import pytest

from apps.core.checks import check_ratelimit_cache


def ids(messages):
    return [message.id for message in messages]


@pytest.mark.parametrize(
    ("backend", "shared_required", "expected"),
    [
        ("django_prometheus.cache.backends.locmem.LocMemCache", False, []),
        ("django_prometheus.cache.backends.locmem.LocMemCache", True, ["maestro.E104"]),
        ("django_prometheus.cache.backends.redis.RedisCache", True, []),
        ("django_redis.cache.RedisCache", True, []),
        ("django.core.cache.backends.dummy.DummyCache", False, ["maestro.E102"]),
        ("django_prometheus.cache.backends.filebased.FileBasedCache", False, ["maestro.W103"]),
        ("django.core.cache.backends.db.DatabaseCache", True, ["maestro.W103"]),
    ],
)
def test_rate_limit_cache_check(settings, backend, shared_required, expected):
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "x"}}
    settings.RATELIMIT_REQUIRE_SHARED_CACHE = shared_required
    assert ids(check_ratelimit_cache()) == expected


def test_a_malformed_rate_setting_is_an_error(settings):
    settings.RATELIMIT_LOGIN = "5 per minute"
    settings.RATELIMIT_PREDICT = "lots"
    messages = [m for m in check_ratelimit_cache() if m.id == "maestro.E105"]
    assert sorted(m.msg.split(":")[0] for m in messages) == ["RATELIMIT_LOGIN", "RATELIMIT_PREDICT"]


def test_an_unknown_rate_limit_cache_is_an_error(settings):
    settings.RATELIMIT_USE_CACHE = "limits"
    assert ids(check_ratelimit_cache()) == ["maestro.E101"]
