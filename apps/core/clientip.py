"""The address of the client that made a request, for audit entries and per-IP rate limits.

Behind a reverse proxy every request comes from the proxy; set ``DJANGO_CLIENT_IP_HEADER`` to the
``request.META`` key the proxy fills with the real address (nginx: ``HTTP_X_REAL_IP``). Only trust a
header your own proxy sets: a client can send any header it likes.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings

FALLBACK_IP = "0.0.0.0"  # noqa: S104 - an address nobody has, never bound to


def valid_ip(value: str | None) -> str | None:
    """``value`` as a normalised IP address (the first of a comma-separated list), or None."""
    if not value:
        return None
    candidate = value.split(",", 1)[0].strip()  # X-Forwarded-For style lists: the first hop is the client
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client's IP address, or None when the configured header holds no valid address."""
    meta = getattr(request, "META", {})
    header = getattr(settings, "CLIENT_IP_HEADER", "REMOTE_ADDR") or "REMOTE_ADDR"
    return valid_ip(meta.get(header)) or (valid_ip(meta.get("REMOTE_ADDR")) if header != "REMOTE_ADDR" else None)


def ratelimit_ip(request) -> str:
    """django-ratelimit's IP source (``RATELIMIT_IP_META_KEY``): always an address, so keys never fail."""
    return client_ip(request) or FALLBACK_IP
