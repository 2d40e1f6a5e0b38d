"""Shared API pieces: the scoping base every view inherits, filter serializers, the exception handler."""

from apps.core.api.handlers import exception_handler

__all__ = ["exception_handler"]
