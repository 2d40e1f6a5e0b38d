"""Rules for what makes a secret unusable. Plain Python: production settings import it."""

from __future__ import annotations

PLACEHOLDER_MARKERS = (
    "changeme",
    "change-me",
    "change_me",
    "replace-me",
    "replace_me",
    "secret",
    "password",
    "insecure",
    "default",
    "example",
    "dummy",
    "django-insecure",
    "not-for-production",
    "maestro-local-development",
    "maestro-test-key",
)
KNOWN_WEAK = {"", "admin", "minioadmin", "mlflow", "postgres", "grafana", "root", "test", "guest"}
MIN_SECRET_KEY_LENGTH = 50


def secret_key_problem(value: str | None) -> str | None:
    """Why ``value`` cannot be the Django SECRET_KEY in production, or None when it is fine."""
    if not value:
        return "DJANGO_SECRET_KEY is not set"
    if len(value) < MIN_SECRET_KEY_LENGTH:
        return f"DJANGO_SECRET_KEY is {len(value)} characters long; it needs at least {MIN_SECRET_KEY_LENGTH}"
    lowered = value.lower()
    for marker in PLACEHOLDER_MARKERS:
        if marker in lowered:
            return f"DJANGO_SECRET_KEY looks like a placeholder (contains {marker!r})"
    if len(set(value)) < 10:
        return "DJANGO_SECRET_KEY has fewer than 10 distinct characters"
    return None


def password_problem(name: str, value: str | None, *, min_length: int = 12) -> str | None:
    """Why a service password or access key named ``name`` is unusable, or None when it is fine."""
    if not value:
        return f"{name} is not set"
    if value.lower() in KNOWN_WEAK:
        return f"{name} is a well-known default"
    lowered = value.lower()
    for marker in PLACEHOLDER_MARKERS:
        if marker in lowered:
            return f"{name} looks like a placeholder (contains {marker!r})"
    if len(value) < min_length:
        return f"{name} is shorter than {min_length} characters"
    return None
