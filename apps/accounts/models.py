from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.crypto import salted_hmac


class User(AbstractUser):
    """A person who signs in to Maestro ML. Global roles are Django groups (see ``apps.accounts.roles``)."""

    token_generation = models.PositiveIntegerField(
        default=0,
        help_text="Incremented to end every token and session of the account at once (password change, "
        "deactivation); tokens carry the value they were made with (apps.accounts.tokens).",
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["id"]

    @property
    def roles(self) -> list[str]:
        return sorted(group.name for group in self.groups.all())

    def _get_session_auth_hash(self, secret=None):
        """Django ends a session whose stored hash differs from this one; with the token generation in it,
        revoking an account's tokens ends its sessions too. Generation 0 keeps Django's own hash, so
        sessions started before this existed stay valid. (Django's private hook behind
        ``get_session_auth_hash`` and its fallback-key variant.)"""
        if not self.token_generation:
            return super()._get_session_auth_hash(secret=secret)
        key_salt = "apps.accounts.models.User.get_session_auth_hash"
        return salted_hmac(
            key_salt, f"{self.password}:{self.token_generation}", secret=secret, algorithm="sha256"
        ).hexdigest()


class RevokedAccessToken(models.Model):
    """A JWT access token ended before its expiry by signing out; rows are pruned once it would have expired.

    Refresh tokens are revoked through simplejwt's blacklist; access tokens are not in it, so
    sign-out records the access token it was called with here.
    """

    jti = models.CharField(max_length=255, unique=True)
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-revoked_at", "-id"]

    def __str__(self) -> str:
        return f"access token {self.jti} of user {self.user_id}"
