"""Request/response hooks shared by the API and the pages."""

from __future__ import annotations

import logging
import time

from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse

from apps.core import logs
from apps.core.audit import audit_log_record
from apps.core.clientip import client_ip

logger = logging.getLogger("maestro.audit")
request_logger = logging.getLogger("maestro.request")


class RequestContextMiddleware:
    """Give every request an id (the caller's ``X-Request-ID`` when it is a sane identifier, else a new
    one), bind it, and the user's id once known, to every log line of the request and to the Celery tasks
    it starts (:mod:`apps.core.logs`); answer it in ``X-Request-ID``; log one line per request."""

    header = "X-Request-ID"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        logs.clear()
        request.request_id = logs.request_id_from(request.headers.get(self.header))
        logs.bind(request_id=request.request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[self.header] = request.request_id
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                logs.bind(user_id=user.pk)
            request_logger.info(
                "request finished",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return response
        finally:
            logs.clear()

    def process_view(self, request, view_func, view_args, view_kwargs):
        """Session users are known here (API token users once DRF authenticated them: ScopedAPIView)."""
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            logs.bind(user_id=user.pk)
        project_id = view_kwargs.get("project_id")
        route = getattr(getattr(request, "resolver_match", None), "route", "") or ""
        if project_id is None and "projects/<int:pk>" in route:  # a project's own pages and endpoints
            project_id = view_kwargs.get("pk")
        if project_id is not None:
            logs.bind(project_id=project_id)
        return None


class AuditDeniedMiddleware:
    """Write every 403 answer (API, pages, CSRF failures) to the audit log: who, what, when, from where.

    DRF puts the user it authenticated (a JWT bearer too) on the underlying request, so the entry
    names the real caller even when the refusal came from an API permission check.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 403:
            self.record(request, response)
        return response

    @staticmethod
    def record(request, response) -> None:
        detail = ""
        data = getattr(response, "data", None)
        if isinstance(data, dict) and "detail" in data:
            detail = str(data["detail"])
        try:
            audit_log_record(
                actor=getattr(request, "user", None),
                action="access.denied",
                target=("path", request.path[:64]),
                ip=client_ip(request),
                data={"method": request.method, "path": request.path, "detail": detail},
            )
        except DatabaseError:  # the refusal itself must still reach the client
            logger.exception("Could not write the audit entry of a refused request to %s", request.path)


def unavailable_dependency(exc: BaseException) -> str | None:
    """The name of the service ``exc`` says is unreachable ("database", "cache", "broker"), else None."""
    from django.db import InterfaceError, OperationalError

    if isinstance(exc, OperationalError | InterfaceError):
        return "database"
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is a dependency
        RedisConnectionError = RedisTimeoutError = ()  # noqa: N806
    try:
        from django_redis.exceptions import ConnectionInterrupted
    except ImportError:  # pragma: no cover - django-redis is a dependency
        ConnectionInterrupted = ()  # noqa: N806
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | ConnectionInterrupted):
        return "cache"
    from kombu.exceptions import OperationalError as BrokerOperationalError

    if isinstance(exc, BrokerOperationalError):
        return "broker"
    return None


class DependencyUnavailableMiddleware:
    """Answer 503 with ``Retry-After``, instead of a 500, when a request fails because the database, the cache
    or the broker cannot be reached (connections dropped, a restart, a fail-over). The next request opens new
    connections (``CONN_HEALTH_CHECKS``; Redis and the broker reconnect on use), so nothing needs restarting
    once the service is back."""

    RETRY_AFTER = 5

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        service = unavailable_dependency(exc)
        if service is None:
            return None
        logging.getLogger("maestro.api").error(
            "%s %s failed: the %s is unavailable (%s: %s)", request.method, request.path, service,
            type(exc).__name__, exc,
        )  # fmt: skip
        message = f"The {service} is unavailable, so the request could not be completed; try again shortly."
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": message, "unavailable": service}, status=503)
        else:
            response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(self.RETRY_AFTER)
        return response
