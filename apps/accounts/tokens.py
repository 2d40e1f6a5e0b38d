"""The JWTs Maestro ML issues: simplejwt's refresh and access tokens with three claims of our own.

- ``sid``: the session (token family) a sign-in starts; every refresh token rotated from it and every
  access token made from those carry it, so a stolen-and-replayed refresh token ends the whole family
  (``session_revoke``) and no other sign-in of the account.
- ``auth_time``: when the person signed in. Rotation copies it and no token of the family expires later
  than ``auth_time + JWT_SESSION_LIFETIME``: refreshing cannot keep a session alive for ever.
- ``gen``: the account's ``token_generation`` when the token was made. Revoking everything of an account
  (password change, deactivation) increments it, which ends every older token (and session) at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from apps.accounts.models import RevokedAccessToken

if TYPE_CHECKING:
    from apps.accounts.models import User

SESSION_CLAIM = "sid"
AUTH_TIME_CLAIM = "auth_time"
GENERATION_CLAIM = "gen"
SESSION_REVOCATION_PREFIX = "session:"


def session_lifetime() -> timedelta:
    return settings.JWT_SESSION_LIFETIME


def session_ends_at(auth_time: int) -> datetime:
    return datetime_from_epoch(auth_time) + session_lifetime()


def token_pair_issue(*, user: User, auth_time: int | None = None, session_id: str | None = None) -> dict[str, str]:
    """A new ``{access, refresh}`` pair: a new session at sign-in, the same session (``session_id``, signed in
    at ``auth_time``) on rotation. The refresh token is recorded as outstanding (simplejwt's blacklist)."""
    refresh = RefreshToken()
    refresh[jwt_settings.USER_ID_CLAIM] = str(getattr(user, jwt_settings.USER_ID_FIELD))
    refresh[AUTH_TIME_CLAIM] = int(auth_time if auth_time is not None else refresh["iat"])
    refresh[SESSION_CLAIM] = session_id or uuid.uuid4().hex
    refresh[GENERATION_CLAIM] = user.token_generation
    end = int(session_ends_at(refresh[AUTH_TIME_CLAIM]).timestamp())
    refresh["exp"] = min(refresh["exp"], end)
    access = refresh.access_token  # copies sid, auth_time and gen
    access["exp"] = min(access["exp"], end)
    OutstandingToken.objects.create(
        user=user,
        jti=refresh[jwt_settings.JTI_CLAIM],
        token=str(refresh),
        created_at=refresh.current_time,
        expires_at=datetime_from_epoch(refresh["exp"]),
    )
    return {"access": str(access), "refresh": str(refresh)}


def access_token_revoked(*, user: User, claims) -> str | None:
    """Why an access token of ``user`` no longer counts (None when it does): signed out, its session revoked,
    or made before the account's tokens were all revoked."""
    if int(claims.get(GENERATION_CLAIM, 0) or 0) != user.token_generation:
        return "This token was revoked (the account's password or status changed); sign in again."
    keys = [claims.get(jwt_settings.JTI_CLAIM)]
    if claims.get(SESSION_CLAIM):
        keys.append(f"{SESSION_REVOCATION_PREFIX}{claims[SESSION_CLAIM]}")
    if RevokedAccessToken.objects.filter(jti__in=[key for key in keys if key]).exists():
        return "This token was revoked by signing out."
    return None


def _outstanding_usable(user: User):
    return OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True)


@transaction.atomic
def session_revoke(*, user: User, session_id: str) -> int:
    """End one session (token family) of ``user``: blacklist its refresh tokens and refuse its access tokens
    until the last of them would have expired. Returns how many refresh tokens were still usable."""
    tokens = []
    for outstanding in _outstanding_usable(user):
        try:
            claims = token_backend.decode(outstanding.token, verify=False)
        except Exception:  # noqa: BLE001, S112 - a row whose token cannot be read belongs to no session
            continue
        if claims.get(SESSION_CLAIM) == session_id:
            tokens.append(outstanding)
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in tokens], ignore_conflicts=True)
    RevokedAccessToken.objects.get_or_create(
        jti=f"{SESSION_REVOCATION_PREFIX}{session_id}",
        defaults={"user": user, "expires_at": timezone.now() + jwt_settings.ACCESS_TOKEN_LIFETIME},
    )
    return len(tokens)


@transaction.atomic
def account_tokens_revoke(*, user: User) -> int:
    """End every token and session of ``user``: increment its token generation (older access tokens and
    sessions stop counting) and blacklist its refresh tokens. Returns how many were still usable."""
    tokens = list(_outstanding_usable(user))
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in tokens], ignore_conflicts=True)
    type(user).objects.filter(pk=user.pk).update(token_generation=F("token_generation") + 1)
    user.refresh_from_db(fields=["token_generation"])
    return len(tokens)
