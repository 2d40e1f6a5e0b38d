from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

from apps.accounts.roles import role_groups_sync


def resync_role_groups(apps, schema_editor):
    """Give reviewers and admins the approval capabilities (approvals:review, approvals:queue)."""
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, apps=apps, verbosity=0)
    role_groups_sync(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0001_initial"),
        ("accounts", "0004_role_groups_audit_view"),
    ]

    operations = [migrations.RunPython(resync_role_groups, migrations.RunPython.noop)]
