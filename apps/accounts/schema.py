"""OpenAPI description of Maestro ML's JWT authentication (the bearer scheme in /api/v1/schema/)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class JWTScheme(SimpleJWTScheme):
    """``apps.accounts.authentication.JWTAuthentication`` is simplejwt's bearer scheme with stricter checks."""

    target_class = "apps.accounts.authentication.JWTAuthentication"
    name = "jwtAuth"
