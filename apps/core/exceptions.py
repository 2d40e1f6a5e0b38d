"""Domain errors. Services raise these; one DRF exception handler turns them into responses."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a service raises on purpose. ``status_code`` is the HTTP answer."""

    status_code = 400
    default_message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, field: str | None = None, extra: dict | None = None):
        self.message = message or self.default_message
        self.field = field
        self.extra = extra or {}
        super().__init__(self.message)

    def as_data(self) -> dict:
        if self.field:
            return {self.field: [self.message]}
        return {"detail": self.message, **self.extra}


class ValidationError(DomainError):
    status_code = 400
    default_message = "Invalid input."


class AuthenticationFailed(DomainError):
    """Credentials or a token were refused: answered 401 with a ``WWW-Authenticate`` challenge."""

    status_code = 401
    default_message = "Authentication failed."


class PermissionDenied(DomainError):
    status_code = 403
    default_message = "You do not have permission to perform this action."


class NotFound(DomainError):
    status_code = 404
    default_message = "Not found."


class Conflict(DomainError):
    status_code = 409
    default_message = "The request conflicts with the current state."


class PayloadTooLarge(DomainError):
    status_code = 413
    default_message = "The upload is too large."


class ServiceUnavailable(DomainError):
    status_code = 503
    default_message = "A service Maestro ML depends on is unavailable."
