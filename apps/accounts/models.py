from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person who signs in to Maestro ML. Global roles are Django groups (see ``apps.accounts.roles``)."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["id"]

    @property
    def roles(self) -> list[str]:
        return sorted(group.name for group in self.groups.all())
