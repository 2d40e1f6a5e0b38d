"""Open registration is an explicit setting, off in production; sign-up errors never tell which user
names or email addresses have an account, yet still say what to do."""

import pytest

from apps.accounts.models import User
from apps.core.models import AuditLogEntry
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import REGISTER
from tests.core.test_settings import STRONG_ENV, run_python

pytestmark = pytest.mark.django_db

READ = "import django; django.setup(); from django.conf import settings as s; print(s.ACCOUNTS_OPEN_REGISTRATION)"


def test_production_keeps_registration_closed_unless_it_is_opened():
    closed = run_python(READ, "config.settings.production", STRONG_ENV)
    assert closed.returncode == 0, closed.stderr
    assert closed.stdout.strip().splitlines()[-1] == "False"
    opened = run_python(READ, "config.settings.production", {**STRONG_ENV, "ACCOUNTS_OPEN_REGISTRATION": "true"})
    assert opened.stdout.strip().splitlines()[-1] == "True"


def test_the_embedded_default_keeps_self_service_sign_up():
    result = run_python(READ, "config.settings.local")
    assert result.stdout.strip().splitlines()[-1] == "True"


def test_a_taken_email_and_a_taken_user_name_get_the_same_answer(api_client):
    UserFactory(username="grace", email="grace@example.org")
    by_email = api_client.post(REGISTER, {"username": "newcomer", "email": "GRACE@example.org", "password": PASSWORD})
    by_name = api_client.post(REGISTER, {"username": "Grace", "email": "fresh@example.org", "password": PASSWORD})
    assert by_email.status_code == by_name.status_code == 400
    assert by_email.json() == by_name.json()
    assert set(by_email.json()) == {"detail"}  # no field named: nothing says which one exists
    text = by_email.json()["detail"].lower()
    assert "taken" not in text and "exists" not in text and "grace" not in text
    assert "sign in" in text and "another user name" in text  # still says what to do
    assert User.objects.count() == 1
    refused = AuditLogEntry.objects.filter(action="user.register_refused").order_by("id")
    assert [entry.data["reason"] for entry in refused] == ["email in use", "user name in use"]


def test_problems_that_reveal_nothing_are_still_named(api_client):
    weak = api_client.post(REGISTER, {"username": "bob", "email": "bob@example.org", "password": "short1"})
    assert weak.status_code == 400 and "password" in weak.json()
    bad = api_client.post(REGISTER, {"username": "bob", "email": "not-an-email", "password": PASSWORD})
    assert bad.status_code == 400 and "email" in bad.json()


def test_administrators_creating_accounts_are_told_what_is_taken():
    from tests.accounts.helpers import USERS, client_for

    UserFactory(username="grace")
    admin = client_for(UserFactory(roles=["admin"]))
    response = admin.post(USERS, {"username": "grace", "email": "g@example.org", "password": PASSWORD}, format="json")
    assert response.status_code == 400 and "taken" in response.json()["username"][0]
