import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from apps.accounts.roles import Role, role_permission_codes


@pytest.mark.django_db(transaction=True)
def test_role_groups_survive_a_database_flush():
    call_command("flush", interactive=False, verbosity=0)
    engineers = Group.objects.get(name=Role.ML_ENGINEER)
    codes = {f"{p.content_type.app_label}.{p.codename}" for p in engineers.permissions.all()}
    assert codes == role_permission_codes(Role.ML_ENGINEER)
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)
