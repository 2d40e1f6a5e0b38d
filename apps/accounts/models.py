from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person who signs in to Maestro ML. Global roles are Django groups (see ``apps.accounts.roles``)."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["id"]

    @property
    def roles(self) -> list[str]:
        return sorted(group.name for group in self.groups.all())


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
