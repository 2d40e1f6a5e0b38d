import pytest
from django.core.management import call_command

from apps.accounts.models import User
from apps.accounts.roles import has_capability

pytestmark = pytest.mark.django_db


def test_bootstrap_admin_creates_a_superuser_in_the_admin_role(capsys):
    call_command("bootstrap_admin")
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.roles == ["admin"]
    assert has_capability(admin, "users:manage") and has_capability(admin, "audit:view")
    assert "Created superuser 'admin'" in capsys.readouterr().out
    call_command("bootstrap_admin")
    assert "nothing created" in capsys.readouterr().out
    assert User.objects.filter(is_superuser=True).count() == 1
