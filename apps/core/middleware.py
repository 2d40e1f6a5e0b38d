"""Request/response hooks shared by the API and the pages."""

from __future__ import annotations

import logging

from django.db import DatabaseError

from apps.core.audit import audit_log_record
from apps.core.clientip import client_ip

logger = logging.getLogger("maestro.audit")


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
