"""The exception handler every API view goes through."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from django_fsm import TransitionNotAllowed
from django_ratelimit.exceptions import Ratelimited
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.deletion import delete_refused
from apps.core.exceptions import DomainError
from apps.core.ratelimit import retry_after_for

logger = logging.getLogger("maestro.api")


def exception_handler(exc, context):
    """Turn domain errors, Django validation errors and forbidden FSM moves into clear 4xx answers."""
    if isinstance(exc, Ratelimited):
        retry_after = getattr(exc, "retry_after", None) or retry_after_for(context.get("request"))
        response = Response({"detail": f"Too many requests; retry in {retry_after} seconds."}, status=429)
        response["Retry-After"] = str(retry_after)
        return response
    if isinstance(exc, ProtectedError | RestrictedError):  # a delete no service guarded: still a clear 409
        exc = delete_refused("This object", exc)
    if isinstance(exc, DomainError):
        response = Response(exc.as_data(), status=exc.status_code)
        if exc.status_code == status.HTTP_401_UNAUTHORIZED:
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if isinstance(exc, TransitionNotAllowed):
        return Response({"detail": f"This move is not allowed from the current state: {exc}"}, status=409)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            return Response(exc.message_dict, status=status.HTTP_400_BAD_REQUEST)
        return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, DjangoPermissionDenied):
        return Response({"detail": str(exc) or "Permission denied."}, status=status.HTTP_403_FORBIDDEN)
    return drf_exception_handler(exc, context)
