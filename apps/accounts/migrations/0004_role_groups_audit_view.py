from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

from apps.accounts.roles import Role, role_groups_sync


def resync_role_groups(apps, schema_editor):
    """Give the role groups the capabilities added since 0002 (audit:view) and admins the admin site."""
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, apps=apps, verbosity=0)
    role_groups_sync(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))
    apps.get_model("accounts", "User").objects.filter(groups__name=Role.ADMIN).update(is_staff=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_revoked_access_tokens"),
        ("core", "0001_initial"),
    ]

    operations = [migrations.RunPython(resync_role_groups, migrations.RunPython.noop)]
