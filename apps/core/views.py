"""Operations endpoints (liveness, readiness, the operators' deep check) and the 404/500 handlers that answer
JSON under /api/."""

from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.http import Http404, JsonResponse
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.health import CHECKS, READINESS_CHECKS, run_checks


@never_cache
@require_GET
def health_live(request):
    """Liveness: the process answers. Touches no dependency."""
    return JsonResponse({"status": "ok"})


def _answer(checks: dict[str, dict], *, detailed: bool) -> JsonResponse:
    down = [name for name, result in checks.items() if result["status"] != "up"]
    shown = checks if detailed else {name: {"status": result["status"]} for name, result in checks.items()}
    body = {"status": "down" if down else "ok", "checks": shown}
    if down:
        body["down"] = down
    return JsonResponse(body, status=503 if down else 200)


@never_cache
@require_GET
def health_ready(request):
    """Readiness: what serving needs (database, cache, broker), each within HEALTH_CHECK_TIMEOUT. 200, or 503
    naming what is down; no error text (anyone may call this)."""
    return _answer(run_checks(READINESS_CHECKS), detailed=False)


def is_operator(request) -> bool:
    """A signed-in administrator (admin session), or a caller presenting ``HEALTH_CHECK_TOKEN`` as
    ``Authorization: Bearer <token>`` (monitoring). An empty setting accepts no token."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        if user.is_superuser or user.has_perm("core.view_auditlogentry"):  # the admin role's audit:view
            return True
    expected = settings.HEALTH_CHECK_TOKEN
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(presented.strip(), expected)


@never_cache
@require_GET
def health_deep(request):
    """Every dependency (database, cache, broker, storage, MLflow) with latencies and the errors of those
    down, for operators only; anyone else gets 404, as if it did not exist."""
    if not is_operator(request):
        raise Http404("Not found.")
    response = _answer(run_checks(CHECKS), detailed=True)
    from apps.core.resilience import breaker_states

    body = json.loads(response.content)
    body["breakers"] = breaker_states()
    return JsonResponse(body, status=response.status_code)


def not_found(request, exception=None):
    """handler404: under /api/ the API's JSON shape (``{"detail": "Not found."}``), elsewhere the page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: under /api/ a JSON answer (no page a client would have to parse), elsewhere the page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error; it was logged."}, status=500)
    return defaults.server_error(request)
