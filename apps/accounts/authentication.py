"""JWT authentication for the API: simplejwt's bearer tokens, checked against deactivation and sign-out."""

from __future__ import annotations

from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.settings import api_settings

from apps.accounts.models import RevokedAccessToken


class JWTAuthentication(authentication.JWTAuthentication):
    """``Authorization: Bearer <access>`` for users who are active and did not sign the token out.

    simplejwt already refuses a bad signature, an expiry in the past, ``alg: none`` and a refresh
    token presented as an access token. On top of that, a deactivated account's token fails at once
    (the account is re-read on every request) and an access token ended by ``auth/logout`` fails
    until it would have expired anyway.
    """

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not user.is_active:
            raise AuthenticationFailed("This account is deactivated.", code="user_inactive")
        jti = validated_token.get(api_settings.JTI_CLAIM)
        if jti and RevokedAccessToken.objects.filter(jti=jti).exists():
            raise AuthenticationFailed("This token was revoked by signing out.", code="token_revoked")
        return user
