"""JWT authentication for the API: simplejwt's bearer tokens, checked against deactivation and sign-out."""

from __future__ import annotations

from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from apps.accounts.roles import PLATFORM_ADMIN_ATTRIBUTE, platform_admin_annotation
from apps.accounts.tokens import access_token_revoked


class _UsersWithRole:
    """The user model as simplejwt's ``get_user`` uses it (``.objects.get``, ``.DoesNotExist``), reading
    whether the account is a platform admin in the same query (``apps.accounts.roles.is_platform_admin``)."""

    def __init__(self, model) -> None:
        self.model = model
        self.DoesNotExist = model.DoesNotExist

    @property
    def objects(self):
        return self.model.objects.annotate(**{PLATFORM_ADMIN_ATTRIBUTE: platform_admin_annotation()})


class JWTAuthentication(authentication.JWTAuthentication):
    """``Authorization: Bearer <access>`` for users who are active and did not sign the token out.

    simplejwt already refuses a bad signature, an expiry in the past, ``alg: none`` and a refresh
    token presented as an access token. On top of that, a deactivated account's token fails at once
    (the account is re-read on every request) and an access token ended by ``auth/logout`` fails
    until it would have expired anyway, and so does every token of a session ended by a replayed refresh
    token, or of an account whose password changed (``apps.accounts.tokens``).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user_model = _UsersWithRole(self.user_model)

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not user.is_active:
            raise AuthenticationFailed("This account is deactivated.", code="user_inactive")
        problem = access_token_revoked(user=user, claims=validated_token)
        if problem:
            raise AuthenticationFailed(problem, code="token_revoked")
        return user
