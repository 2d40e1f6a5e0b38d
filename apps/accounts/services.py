"""Writes and business rules of accounts: registration, roles, activation, passwords, sign-in and tokens.

Every change of roles, activation or password and every sign-in, failed sign-in and sign-out is written
to the audit log (``apps.core.audit``). Only a superuser may change a superuser. Tokens are simplejwt's
with claims of our own (``apps.accounts.tokens``): refresh tokens rotate on every use (the used one is
blacklisted), a replayed rotated token ends its whole session, no session outlives
``JWT_SESSION_LIFETIME`` from its sign-in, and a password change or deactivation ends every token and
session of the account.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group, update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, UntypedToken

from apps.accounts import tokens as account_tokens
from apps.accounts.models import RevokedAccessToken, User
from apps.accounts.roles import DEFAULT_ROLE, Role
from apps.accounts.selectors import active_admins
from apps.core.audit import audit_log_record
from apps.core.exceptions import AuthenticationFailed, Conflict, PermissionDenied, ValidationError

if TYPE_CHECKING:
    from apps.accounts.models import User

BAD_CREDENTIALS = "No active account found with the given credentials."
# Self-service sign-up never says whether the user name or the email address has an account (anyone may
# ask, so either answer would tell who is registered); it says what to do in both cases.
REGISTRATION_REFUSED = (
    "An account cannot be created with these details. Choose another user name and check the email "
    "address; if you already have an account, sign in instead (an administrator can help if you cannot)."
)
BAD_REFRESH = "The refresh token is invalid or expired."


# ---------------------------------------------------------------------------
# Accounts
# ---------------------------------------------------------------------------
def _roles_validated(roles) -> list[str]:
    if not isinstance(roles, list | tuple) or not roles:
        raise ValidationError(f"Give at least one role: {', '.join(Role.values)}.", field="roles")
    unknown = sorted({str(role) for role in roles} - set(Role.values))
    if unknown:
        raise ValidationError(
            f"Unknown role(s): {', '.join(unknown)}. Roles are {', '.join(Role.values)}.", field="roles"
        )
    return sorted(set(roles))


class _InUse(ValidationError):
    """The user name or the email address belongs to an account already (``reason`` says which)."""

    def __init__(self, message: str, *, field: str, reason: str):
        super().__init__(message, field=field)
        self.reason = reason


def _user_validated(*, username: str, email: str, password: str) -> User:
    """An unsaved user with a valid, unique name and email and a password that passes the validators.

    Problems of the request itself (format, password) come first; a name or address already in use
    raises ``_InUse``, which self-service sign-up answers without saying which (``REGISTRATION_REFUSED``).
    """
    username = User.normalize_username((username or "").strip())
    email = User.objects.normalize_email((email or "").strip())
    if not email:
        raise ValidationError("An email address is required.", field="email")
    try:
        validate_email(email)
    except DjangoValidationError as exc:
        raise ValidationError("Enter a valid email address.", field="email") from exc
    user = User(username=username, email=email)
    user.full_clean(exclude=["password"], validate_unique=False)
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise DjangoValidationError({"password": exc.messages}) from exc
    name_taken = User.objects.filter(username__iexact=username).exists()
    email_taken = User.objects.filter(email__iexact=email).exists()  # both asked, whatever the first says
    if name_taken:
        raise _InUse(f"The user name '{username}' is taken.", field="username", reason="user name in use")
    if email_taken:
        raise _InUse("An account with this email address exists already.", field="email", reason="email in use")
    user.set_password(password)
    return user


def _ensure_an_admin_remains(*, user: User, admin_after: bool) -> None:
    is_admin_now = user.is_active and (user.is_superuser or user.groups.filter(name=Role.ADMIN).exists())
    if is_admin_now and not admin_after and not active_admins(exclude=user).exists():
        raise Conflict("Maestro ML keeps at least one active administrator; make someone else admin first.")


def _ensure_may_manage(*, actor: User, user: User) -> None:
    if user.is_superuser and not getattr(actor, "is_superuser", False):
        raise PermissionDenied("Only a superuser may change a superuser's roles, activation or password.")


def _roles_apply(*, user: User, roles: list[str]) -> None:
    user.groups.set(Group.objects.filter(name__in=roles))
    is_staff = user.is_superuser or Role.ADMIN in roles
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])


def user_register(*, username: str, email: str, password: str, ip: str | None = None) -> User:
    """Self-service sign-up (when ``ACCOUNTS_OPEN_REGISTRATION``): the new account gets the ``viewer`` role
    until an administrator grants more. A name or address in use is refused without saying which (and
    audited as ``user.register_refused``, so administrators see someone probing for accounts)."""
    if not settings.ACCOUNTS_OPEN_REGISTRATION:
        raise PermissionDenied("Registration is closed; ask an administrator for an account.")
    try:
        with transaction.atomic():
            user = _user_validated(username=username, email=email, password=password)
            user.save()
            _roles_apply(user=user, roles=[DEFAULT_ROLE])
            audit_log_record(actor=user, action="user.registered", target=user, ip=ip, data={"roles": [DEFAULT_ROLE]})
    except _InUse as exc:
        audit_log_record(
            actor=None,
            actor_username=username,
            action="user.register_refused",
            ip=ip,
            data={"reason": exc.reason, "username": username},
        )
        raise ValidationError(REGISTRATION_REFUSED) from exc
    return user


@transaction.atomic
def user_create(
    *, actor: User, username: str, email: str, password: str, roles: list[str] | None = None, ip: str | None = None
) -> User:
    """An administrator creates an account with the given roles (``viewer`` when none are given)."""
    roles = _roles_validated(roles if roles is not None else [DEFAULT_ROLE])
    user = _user_validated(username=username, email=email, password=password)
    user.save()
    _roles_apply(user=user, roles=roles)
    audit_log_record(
        actor=actor, action="user.created", target=user, ip=ip, data={"username": user.username, "roles": roles}
    )
    return user


def user_roles_check(*, actor: User, user: User, roles: list[str]) -> list[str]:
    """Validate a role change without making it (the admin form uses it); returns the cleaned roles."""
    roles = _roles_validated(roles)
    _ensure_may_manage(actor=actor, user=user)
    _ensure_an_admin_remains(user=user, admin_after=user.is_superuser or Role.ADMIN in roles)
    return roles


@transaction.atomic
def user_roles_set(*, actor: User, user: User, roles: list[str], ip: str | None = None) -> User:
    """Replace ``user``'s global roles. The last active administrator cannot lose the admin role."""
    roles = user_roles_check(actor=actor, user=user, roles=roles)
    before = user.roles
    if before != roles:
        _roles_apply(user=user, roles=roles)
        audit_log_record(
            actor=actor,
            action="user.roles_changed",
            target=user,
            ip=ip,
            data={"username": user.username, "before": before, "after": roles},
        )
    return user


def user_deactivate_check(*, actor: User, user: User) -> None:
    """Validate a deactivation without making it (the admin form uses it)."""
    if actor is not None and actor.pk == user.pk:
        raise ValidationError("You cannot deactivate your own account.")
    _ensure_may_manage(actor=actor, user=user)
    _ensure_an_admin_remains(user=user, admin_after=False)


@transaction.atomic
def user_deactivate(*, actor: User, user: User, ip: str | None = None) -> User:
    """Deactivate an account (never delete it: its history stays). Its tokens stop working at once."""
    if not user.is_active:
        return user
    user_deactivate_check(actor=actor, user=user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    revoked = user_tokens_revoke(user=user)
    audit_log_record(
        actor=actor,
        action="user.deactivated",
        target=user,
        ip=ip,
        data={"username": user.username, "refresh_tokens_revoked": revoked},
    )
    return user


@transaction.atomic
def user_reactivate(*, actor: User, user: User, ip: str | None = None) -> User:
    """Let a deactivated account sign in again (with new tokens; the old ones stay revoked)."""
    if user.is_active:
        return user
    _ensure_may_manage(actor=actor, user=user)
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_log_record(actor=actor, action="user.reactivated", target=user, ip=ip, data={"username": user.username})
    return user


@transaction.atomic
def user_tokens_revoke(*, user: User) -> int:
    """End every token and session of ``user``; how many of its refresh tokens were still usable."""
    return account_tokens.account_tokens_revoke(user=user)


@transaction.atomic
def user_password_set(*, actor: User, user: User, password: str, ip: str | None = None, channel: str = "api") -> User:
    """Set ``user``'s password (it must pass the validators). Only a superuser may set a superuser's.
    Every token and session of the account ends (the actor's own session is the caller's to keep)."""
    _ensure_may_manage(actor=actor, user=user)
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationError(" ".join(exc.messages), field="password") from exc
    user.set_password(password)
    user.save(update_fields=["password"])
    user_password_changed(actor=actor, user=user, ip=ip, channel=channel)
    return user


@transaction.atomic
def user_password_changed(*, actor: User, user: User, ip: str | None = None, channel: str = "api") -> int:
    """After ``user``'s password changed (by ``user_password_set`` or the admin's password form): end every
    token and session of the account and audit the change. Returns how many refresh tokens were usable."""
    revoked = user_tokens_revoke(user=user)
    audit_log_record(
        actor=actor,
        action="user.password_changed",
        target=user,
        ip=ip,
        data={"username": user.username, "channel": channel, "refresh_tokens_revoked": revoked},
    )
    return revoked


# ---------------------------------------------------------------------------
# Sign-in, tokens, sign-out
# ---------------------------------------------------------------------------
def _token_pair(user: User) -> dict[str, str]:
    """The tokens of a new sign-in: a new session, signed in now."""
    return account_tokens.token_pair_issue(user=user)


def auth_attempt_record(*, user: User | None, username: str, ip: str | None, channel: str) -> None:
    """Audit one sign-in attempt: ``auth.login`` for ``user``, else ``auth.login_failed`` for ``username``."""
    if user is not None:
        audit_log_record(actor=user, action="auth.login", target=user, ip=ip, data={"channel": channel})
    else:
        audit_log_record(
            actor=None,
            actor_username=username,
            action="auth.login_failed",
            ip=ip,
            data={"channel": channel, "username": username},
        )


def auth_rate_limited_record(*, username: str, ip: str | None, channel: str) -> None:
    audit_log_record(
        actor=None, actor_username=username, action="auth.login_rate_limited", ip=ip, data={"channel": channel}
    )


def auth_login(*, username: str, password: str, ip: str | None = None, request=None) -> dict[str, str]:
    """Check credentials and return ``{access, refresh}``; AuthenticationFailed (401) when they are wrong."""
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        auth_attempt_record(user=None, username=username, ip=ip, channel="api")
        raise AuthenticationFailed(BAD_CREDENTIALS)
    update_last_login(None, user)
    tokens = _token_pair(user)
    auth_attempt_record(user=user, username=username, ip=ip, channel="api")
    return tokens


def _refresh_claims(raw: str) -> dict:
    """The verified claims of a refresh token (signature, expiry, type); AuthenticationFailed otherwise."""
    try:
        token = UntypedToken(raw)
    except TokenError as exc:
        raise AuthenticationFailed(BAD_REFRESH) from exc
    if token.get(jwt_settings.TOKEN_TYPE_CLAIM) != RefreshToken.token_type:
        raise AuthenticationFailed("This is not a refresh token.")
    return token.payload


def auth_refresh(*, refresh: str, ip: str | None = None) -> dict[str, str]:
    """Exchange a refresh token for a new ``{access, refresh}`` pair of the same session; the one given can
    never be used again.

    Re-using a rotated (blacklisted) refresh token means two parties hold the session (it may have been
    stolen): the whole session ends, every refresh and access token of it, and it is audited. A session
    older than ``JWT_SESSION_LIFETIME`` (counted from its sign-in, whatever the rotations) is refused.
    """
    claims = _refresh_claims(refresh)
    jti = claims.get(jwt_settings.JTI_CLAIM)
    user_id = claims.get(jwt_settings.USER_ID_CLAIM)
    session_id = claims.get(account_tokens.SESSION_CLAIM)
    auth_time = int(claims.get(account_tokens.AUTH_TIME_CLAIM) or claims.get("iat") or 0)
    with transaction.atomic():
        user = User.objects.filter(**{jwt_settings.USER_ID_FIELD: user_id}).first()
        outstanding = OutstandingToken.objects.select_for_update(of=("self",)).filter(jti=jti).order_by().first()
        if outstanding is None:
            outstanding = OutstandingToken.objects.create(
                jti=jti,
                user=user,
                token=refresh,
                created_at=datetime.fromtimestamp(claims["iat"], tz=UTC) if "iat" in claims else None,
                expires_at=datetime.fromtimestamp(claims["exp"], tz=UTC),
            )
        if user is None or not user.is_active:
            raise AuthenticationFailed("No active account found for this token.")
        if int(claims.get(account_tokens.GENERATION_CLAIM, 0) or 0) != user.token_generation:
            raise AuthenticationFailed("This refresh token was revoked (the account changed); sign in again.")
        if timezone.now() >= account_tokens.session_ends_at(auth_time):
            hours = account_tokens.session_lifetime().total_seconds() / 3600
            raise AuthenticationFailed(
                f"This session is older than {hours:g} hours (JWT_SESSION_LIFETIME); sign in again."
            )
        if not BlacklistedToken.objects.filter(token=outstanding).exists():
            BlacklistedToken.objects.create(token=outstanding)
            return account_tokens.token_pair_issue(user=user, auth_time=auth_time, session_id=session_id)
    if session_id:
        revoked = account_tokens.session_revoke(user=user, session_id=session_id)
    else:  # a token from before sessions were named: end all of the account's
        revoked = user_tokens_revoke(user=user)
    audit_log_record(
        actor=user,
        action="auth.refresh_reused",
        target=user,
        ip=ip,
        data={"jti": jti, "user_id": user_id, "session": session_id or "", "refresh_tokens_revoked": revoked},
    )
    raise AuthenticationFailed(
        "This refresh token was already used or revoked; the session it belongs to has ended. Sign in again."
    )


@transaction.atomic
def auth_logout(
    *, user: User, refresh: str, access_jti: str | None = None, access_exp: int | None = None, ip: str | None = None
) -> None:
    """Sign out: blacklist ``refresh`` (and end the access token the call was made with, if any)."""
    try:
        token = UntypedToken(refresh)
    except TokenError as exc:
        raise ValidationError(BAD_REFRESH, field="refresh") from exc
    if token.get(jwt_settings.TOKEN_TYPE_CLAIM) != RefreshToken.token_type:
        raise ValidationError("This is not a refresh token.", field="refresh")
    if str(token.get(jwt_settings.USER_ID_CLAIM)) != str(getattr(user, jwt_settings.USER_ID_FIELD)):
        raise ValidationError("This refresh token belongs to another account.", field="refresh")
    jti = token[jwt_settings.JTI_CLAIM]
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=jti,
        defaults={"user": user, "token": refresh, "expires_at": datetime.fromtimestamp(token["exp"], tz=UTC)},
    )
    BlacklistedToken.objects.get_or_create(token=outstanding)
    now = timezone.now()
    if access_jti and access_exp:
        RevokedAccessToken.objects.get_or_create(
            jti=access_jti, defaults={"user": user, "expires_at": datetime.fromtimestamp(access_exp, tz=UTC)}
        )
    RevokedAccessToken.objects.filter(expires_at__lt=now).delete()
    audit_log_record(actor=user, action="auth.logout", target=user, ip=ip, data={"channel": "api"})


def auth_session_logout_record(*, user: User, ip: str | None) -> None:
    """Audit a sign-out of the web pages."""
    if getattr(user, "is_authenticated", False):
        audit_log_record(actor=user, action="auth.logout", target=user, ip=ip, data={"channel": "web"})
