"""The address of the client that made a request, for audit entries and per-IP rate limits.

Behind a reverse proxy every request comes from the proxy: without this, the sign-in limit of one
address would be the limit of the whole site. Set ``DJANGO_CLIENT_IP_HEADER`` to the ``request.META``
key your proxy fills with the client's address:

- ``HTTP_X_REAL_IP`` behind the bundled nginx (``deploy/nginx/maestro.conf``) and ingress-nginx: the
  proxy writes it from the address it accepted the connection from, replacing anything a client sent.
- ``HTTP_X_FORWARDED_FOR`` when the proxies only append to that header. Its left part is whatever the
  client wrote, so the address is read from the right: with ``DJANGO_CLIENT_IP_TRUSTED_PROXIES = N``
  proxies of yours appending to it, the client is the N-th entry from the right (the entry the
  outermost of them appended), never the first.

Only name a header your own proxy sets: a client can send any header it likes. Requests that reach the
application without it (a health probe inside the cluster) fall back to ``REMOTE_ADDR``.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings

FALLBACK_IP = "0.0.0.0"  # noqa: S104  # nosec B104  # an address nobody has, a rate-limit key, never bound to


def valid_ip(value: str | None) -> str | None:
    """``value`` (one address) normalised, or None when it is not an IP address."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return None


def forwarded_client_ip(value: str, *, trusted_proxies: int) -> str | None:
    """The client's address in a proxy-written header (``X-Real-IP``: one entry; ``X-Forwarded-For``: a
    chain): the entry ``trusted_proxies`` from the right, or the left-most when the chain is shorter
    (then every entry was written by one of the trusted proxies)."""
    entries = [entry.strip() for entry in str(value).split(",") if entry.strip()]
    if not entries:
        return None
    position = max(1, int(trusted_proxies))
    return valid_ip(entries[-position] if len(entries) >= position else entries[0])


def client_ip(request) -> str | None:
    """The client's IP address, or None when neither the configured header nor REMOTE_ADDR holds one."""
    meta = getattr(request, "META", {})
    header = getattr(settings, "CLIENT_IP_HEADER", "REMOTE_ADDR") or "REMOTE_ADDR"
    remote = valid_ip(meta.get("REMOTE_ADDR"))
    if header == "REMOTE_ADDR":
        return remote
    value = meta.get(header)
    if not value:
        return remote
    return forwarded_client_ip(value, trusted_proxies=getattr(settings, "CLIENT_IP_TRUSTED_PROXIES", 1)) or remote


def ratelimit_ip(request) -> str:
    """django-ratelimit's IP source (``RATELIMIT_IP_META_KEY``): always an address, so keys never fail."""
    return client_ip(request) or FALLBACK_IP
