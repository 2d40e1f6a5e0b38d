from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


def sync_role_groups_after_migrate(sender, using="default", **kwargs) -> None:
    """Keep the role groups whole after every migrate or flush (test flushes empty them).

    post_migrate is sent once per app that has models; permissions of every app exist by the time
    it is sent for the last of them, so the groups are synced then.
    """
    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if sender is not with_models[-1]:
        return
    from django.contrib.auth.models import Group, Permission

    from apps.accounts.roles import role_groups_sync

    role_groups_sync(Group.objects.db_manager(using).model, Permission)


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from apps.accounts import schema  # noqa: F401 - registers the OpenAPI authentication extension

        post_migrate.connect(sync_role_groups_after_migrate, dispatch_uid="maestro-role-groups")
