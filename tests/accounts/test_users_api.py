"""The administrators' user API: list, create with roles, change roles, deactivate."""

import pytest

from apps.accounts.models import User
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import USERS, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    return UserFactory(roles=["admin"], is_staff=True)


def test_admin_lists_users_with_roles_paginated(admin):
    engineer = UserFactory(roles=["ml_engineer"])
    response = client_for(admin).get(USERS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    by_name = {row["username"]: row for row in body["results"]}
    assert by_name[engineer.username]["roles"] == ["ml_engineer"]
    assert by_name[admin.username]["roles"] == ["admin"]


def test_admin_filters_users_by_role_activity_and_name(admin):
    UserFactory(username="reviewer-ann", roles=["reviewer"])
    UserFactory(username="gone", roles=["viewer"], is_active=False)
    client = client_for(admin)
    assert [u["username"] for u in client.get(USERS, {"role": "reviewer"}).json()["results"]] == ["reviewer-ann"]
    assert [u["username"] for u in client.get(USERS, {"is_active": "false"}).json()["results"]] == ["gone"]
    assert [u["username"] for u in client.get(USERS, {"search": "ann"}).json()["results"]] == ["reviewer-ann"]
    assert client.get(USERS, {"is_active": "maybe"}).status_code == 400


def test_admin_creates_a_user_with_roles(admin, api_client):
    response = client_for(admin).post(
        USERS,
        {"username": "lin", "email": "lin@example.org", "password": PASSWORD, "roles": ["reviewer", "ml_engineer"]},
    )
    assert response.status_code == 201, response.content
    assert response.json()["roles"] == ["ml_engineer", "reviewer"]
    assert User.objects.get(username="lin").check_password(PASSWORD)


def test_creating_a_user_validates_password_and_roles(admin):
    client = client_for(admin)
    weak = client.post(USERS, {"username": "w", "email": "w@example.org", "password": "abc", "roles": ["viewer"]})
    assert weak.status_code == 400 and "password" in weak.json()
    unknown = client.post(USERS, {"username": "u", "email": "u@example.org", "password": PASSWORD, "roles": ["root"]})
    assert unknown.status_code == 400
    assert "root" in unknown.json()["roles"][0]
    assert not User.objects.filter(username__in=["w", "u"]).exists()


def test_created_user_without_roles_is_a_viewer(admin):
    response = client_for(admin).post(USERS, {"username": "v", "email": "v@example.org", "password": PASSWORD})
    assert response.status_code == 201
    assert response.json()["roles"] == ["viewer"]


def test_admin_changes_roles_and_admin_role_gives_the_admin_site(admin):
    user = UserFactory(roles=["viewer"])
    client = client_for(admin)
    response = client.patch(f"{USERS}/{user.pk}/roles", {"roles": ["admin"]})
    assert response.status_code == 200
    assert response.json()["roles"] == ["admin"] and response.json()["is_staff"] is True
    response = client.patch(f"{USERS}/{user.pk}/roles", {"roles": ["reviewer"]})
    assert response.json()["roles"] == ["reviewer"] and response.json()["is_staff"] is False


def test_role_change_validation(admin):
    user = UserFactory()
    client = client_for(admin)
    assert client.patch(f"{USERS}/{user.pk}/roles", {"roles": []}).status_code == 400
    assert client.patch(f"{USERS}/{user.pk}/roles", {"roles": ["wizard"]}).status_code == 400
    assert client.patch(f"{USERS}/{user.pk}/roles", {}).status_code == 400
    assert client.patch(f"{USERS}/999999/roles", {"roles": ["viewer"]}).status_code == 404


def test_the_last_admin_cannot_lose_the_role_or_be_deactivated(admin):
    other = UserFactory(roles=["admin"])
    client = client_for(other)
    client.delete(f"{USERS}/{admin.pk}")
    refused = client.patch(f"{USERS}/{other.pk}/roles", {"roles": ["viewer"]})
    assert refused.status_code == 409
    assert "at least one active administrator" in refused.json()["detail"]


def test_admin_cannot_deactivate_themselves(admin):
    response = client_for(admin).delete(f"{USERS}/{admin.pk}")
    assert response.status_code == 400
    admin.refresh_from_db()
    assert admin.is_active


def test_only_a_superuser_may_deactivate_a_superuser(admin):
    root = UserFactory(roles=[], is_superuser=True, is_staff=True)
    assert client_for(admin).delete(f"{USERS}/{root.pk}").status_code == 403
    root.refresh_from_db()
    assert root.is_active


def test_delete_deactivates_but_keeps_the_account(admin):
    user = UserFactory()
    client = client_for(admin)
    assert client.delete(f"{USERS}/{user.pk}").status_code == 204
    user.refresh_from_db()
    assert not user.is_active
    assert client.get(f"{USERS}/{user.pk}").json()["is_active"] is False
    assert client.delete(f"{USERS}/{user.pk}").status_code == 204  # idempotent
    assert client.delete(f"{USERS}/999999").status_code == 404


def test_users_api_needs_a_token(api_client):
    assert api_client.get(USERS).status_code == 401
    assert api_client.post(USERS, {}).status_code == 401
