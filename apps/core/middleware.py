"""Request/response hooks shared by the API and the pages."""

from __future__ import annotations

import logging
import time

from django.db import DatabaseError

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
