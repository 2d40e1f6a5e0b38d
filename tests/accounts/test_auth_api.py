"""auth/register, login, refresh, logout and me, each through a real request."""

from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from apps.accounts.models import User
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import LOGIN, LOGOUT, ME, REFRESH, REGISTER, bearer, login

pytestmark = pytest.mark.django_db


# --- register -----------------------------------------------------------------------------------
def test_register_creates_a_viewer(api_client):
    response = api_client.post(
        REGISTER, {"username": "ada", "email": "ada@example.org", "password": "Analytical-Engine-1843"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= {"id", "username", "email"}
    assert body["username"] == "ada" and body["email"] == "ada@example.org"
    user = User.objects.get(username="ada")
    assert user.roles == ["viewer"]
    assert not user.is_staff
    assert user.check_password("Analytical-Engine-1843")


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short1", "too short"), ("password123", "too common"), ("1234567890123", "entirely numeric")],
)
def test_register_refuses_a_weak_password_with_400(api_client, password, reason):
    response = api_client.post(REGISTER, {"username": "bob", "email": "bob@example.org", "password": password})
    assert response.status_code == 400
    assert "password" in response.json()
    assert reason in " ".join(response.json()["password"])
    assert not User.objects.filter(username="bob").exists()


def test_register_refuses_a_password_like_the_user_name(api_client):
    response = api_client.post(REGISTER, {"username": "margaret", "email": "m@example.org", "password": "margaret-hh"})
    assert response.status_code == 400
    assert "too similar" in " ".join(response.json()["password"])


def test_register_refuses_a_taken_name_in_any_case_and_a_bad_email(api_client):
    UserFactory(username="grace")
    taken = api_client.post(REGISTER, {"username": "GRACE", "email": "g2@example.org", "password": PASSWORD})
    assert taken.status_code == 400
    assert "another user name" in taken.json()["detail"]  # without saying it exists (test_registration_privacy)
    bad_email = api_client.post(REGISTER, {"username": "other", "email": "not-an-email", "password": PASSWORD})
    assert bad_email.status_code == 400
    assert "email" in bad_email.json()


def test_register_can_be_closed(api_client, settings):
    settings.ACCOUNTS_OPEN_REGISTRATION = False
    response = api_client.post(REGISTER, {"username": "eve", "email": "eve@example.org", "password": PASSWORD})
    assert response.status_code == 403
    assert not User.objects.filter(username="eve").exists()


# --- login / me ----------------------------------------------------------------------------------
def test_login_returns_tokens_that_open_me(api_client):
    user = UserFactory(roles=["ml_engineer"])
    tokens = login(api_client, user.username)
    assert set(tokens) == {"access", "refresh"}
    response = api_client.get(ME, **bearer(tokens["access"]))
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("id", "username", "email", "roles", "is_staff")} == {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "roles": ["ml_engineer"],
        "is_staff": False,
    }
    assert "automl:run" in body["capabilities"] and "users:manage" not in body["capabilities"]
    user.refresh_from_db()
    assert user.last_login is not None


def test_access_token_lifetime_is_fifteen_minutes_and_refresh_one_day(api_client):
    tokens = login(api_client, UserFactory().username)
    access, refresh = AccessToken(tokens["access"]), RefreshToken(tokens["refresh"])
    assert access["exp"] - access["iat"] == 15 * 60
    assert refresh["exp"] - refresh["iat"] == 24 * 60 * 60


def test_wrong_password_is_401(api_client):
    user = UserFactory()
    response = api_client.post(LOGIN, {"username": user.username, "password": "Wrong-Password-99"})
    assert response.status_code == 401
    assert "access" not in response.json()
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_user_and_deactivated_user_get_the_same_401(api_client):
    inactive = UserFactory(is_active=False)
    unknown = api_client.post(LOGIN, {"username": "nobody-here", "password": PASSWORD})
    deactivated = api_client.post(LOGIN, {"username": inactive.username, "password": PASSWORD})
    assert unknown.status_code == deactivated.status_code == 401
    assert unknown.json() == deactivated.json()


def test_login_without_fields_is_400(api_client):
    response = api_client.post(LOGIN, {"username": "someone"})
    assert response.status_code == 400
    assert "password" in response.json()


def test_me_without_a_token_is_401(api_client):
    assert api_client.get(ME).status_code == 401


# --- token attacks -------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_tampered_token_is_401(api_client):
    victim, attacker = UserFactory(roles=["admin"]), UserFactory()
    tokens = login(api_client, attacker.username)
    header, payload, signature = tokens["access"].split(".")
    claims = jwt.decode(tokens["access"], options={"verify_signature": False})
    claims["user_id"] = str(victim.pk)
    import json

    forged = ".".join([header, _b64(json.dumps(claims).encode()), signature])
    assert api_client.get(ME, **bearer(forged)).status_code == 401


def test_expired_token_is_401(api_client):
    user = UserFactory()
    token = AccessToken.for_user(user)
    token.set_exp(from_time=token.current_time - timedelta(hours=1), lifetime=timedelta(minutes=15))
    response = api_client.get(ME, **bearer(str(token)))
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_alg_none_token_is_401(api_client):
    user = UserFactory(roles=["admin"])
    claims = jwt.decode(str(AccessToken.for_user(user)), options={"verify_signature": False})
    unsigned = _b64(b'{"alg":"none","typ":"JWT"}') + "." + _b64(__import__("json").dumps(claims).encode()) + "."
    assert api_client.get(ME, **bearer(unsigned)).status_code == 401


def test_token_signed_with_another_key_is_401(api_client):
    user = UserFactory()
    claims = jwt.decode(str(AccessToken.for_user(user)), options={"verify_signature": False})
    forged = jwt.encode(claims, "a-different-key-" + "x" * 40, algorithm="HS256")
    assert api_client.get(ME, **bearer(forged)).status_code == 401


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_token_signed_with_another_algorithm_is_401(api_client):
    user = UserFactory()
    claims = jwt.decode(str(AccessToken.for_user(user)), options={"verify_signature": False})
    forged = jwt.encode(claims, settings.SECRET_KEY, algorithm="HS512")
    assert api_client.get(ME, **bearer(forged)).status_code == 401


def test_refresh_token_sent_as_access_token_is_401(api_client):
    tokens = login(api_client, UserFactory().username)
    assert api_client.get(ME, **bearer(tokens["refresh"])).status_code == 401


def test_access_token_sent_as_refresh_token_is_401(api_client):
    tokens = login(api_client, UserFactory().username)
    assert api_client.post(REFRESH, {"refresh": tokens["access"]}).status_code == 401


def test_garbage_token_is_401(api_client):
    assert api_client.get(ME, **bearer("not.a.token")).status_code == 401
    assert api_client.post(REFRESH, {"refresh": "not.a.token"}).status_code == 401


# --- refresh rotation ----------------------------------------------------------------------------
def test_refresh_rotates_and_the_old_refresh_token_is_dead(api_client):
    tokens = login(api_client, UserFactory().username)
    first = api_client.post(REFRESH, {"refresh": tokens["refresh"]})
    assert first.status_code == 200
    rotated = first.json()
    assert set(rotated) == {"access", "refresh"} and rotated["refresh"] != tokens["refresh"]
    assert api_client.get(ME, **bearer(rotated["access"])).status_code == 200

    reused = api_client.post(REFRESH, {"refresh": tokens["refresh"]})
    assert reused.status_code == 401
    # A replayed rotated token ends its whole session (tests/accounts/test_token_lifetime.py).
    assert api_client.post(REFRESH, {"refresh": rotated["refresh"]}).status_code == 401


def test_refresh_of_a_blacklisted_token_is_401(api_client):
    tokens = login(api_client, UserFactory().username)
    RefreshToken(tokens["refresh"]).blacklist()
    assert api_client.post(REFRESH, {"refresh": tokens["refresh"]}).status_code == 401


def test_expired_refresh_token_is_401(api_client):
    token = RefreshToken.for_user(UserFactory())
    token.set_exp(from_time=token.current_time - timedelta(days=2), lifetime=timedelta(days=1))
    assert api_client.post(REFRESH, {"refresh": str(token)}).status_code == 401


# --- logout ---------------------------------------------------------------------------------------
def test_logout_blacklists_the_refresh_token_and_ends_the_access_token(api_client):
    tokens = login(api_client, UserFactory().username)
    response = api_client.post(LOGOUT, {"refresh": tokens["refresh"]}, **bearer(tokens["access"]))
    assert response.status_code == 205
    assert api_client.post(REFRESH, {"refresh": tokens["refresh"]}).status_code == 401
    assert api_client.get(ME, **bearer(tokens["access"])).status_code == 401


def test_logout_needs_authentication_and_a_valid_own_refresh_token(api_client):
    mine = login(api_client, UserFactory().username)
    theirs = login(api_client, UserFactory().username)
    assert api_client.post(LOGOUT, {"refresh": mine["refresh"]}).status_code == 401
    bad = api_client.post(LOGOUT, {"refresh": "garbage"}, **bearer(mine["access"]))
    assert bad.status_code == 400 and "refresh" in bad.json()
    other = api_client.post(LOGOUT, {"refresh": theirs["refresh"]}, **bearer(mine["access"]))
    assert other.status_code == 400
    assert api_client.post(REFRESH, {"refresh": theirs["refresh"]}).status_code == 200


def test_logout_leaves_other_sessions_working(api_client):
    user = UserFactory()
    laptop, phone = login(api_client, user.username), login(api_client, user.username)
    api_client.post(LOGOUT, {"refresh": laptop["refresh"]}, **bearer(laptop["access"]))
    assert api_client.get(ME, **bearer(phone["access"])).status_code == 200
    assert api_client.post(REFRESH, {"refresh": phone["refresh"]}).status_code == 200


# --- deactivation ------------------------------------------------------------------------------------
def test_deactivated_users_access_and_refresh_tokens_fail_at_once(api_client):
    admin = UserFactory(roles=["admin"])
    user = UserFactory(roles=["ml_engineer"])
    admin_tokens, tokens = login(api_client, admin.username), login(api_client, user.username)
    rotated = api_client.post(REFRESH, {"refresh": tokens["refresh"]}).json()
    assert api_client.get(ME, **bearer(rotated["access"])).status_code == 200

    response = api_client.delete(f"/api/v1/users/{user.pk}", **bearer(admin_tokens["access"]))
    assert response.status_code == 204

    assert api_client.get(ME, **bearer(tokens["access"])).status_code == 401
    assert api_client.get(ME, **bearer(rotated["access"])).status_code == 401
    assert api_client.post(REFRESH, {"refresh": rotated["refresh"]}).status_code == 401
    assert api_client.post(LOGIN, {"username": user.username, "password": PASSWORD}).status_code == 401


def test_deactivation_blacklists_outstanding_refresh_tokens(api_client):
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

    from apps.accounts.services import user_deactivate

    admin, user = UserFactory(roles=["admin"]), UserFactory()
    tokens = [login(api_client, user.username)["refresh"] for _ in range(3)]
    user_deactivate(actor=admin, user=user)
    jtis = {RefreshToken(token, verify=False)["jti"] for token in tokens}
    assert BlacklistedToken.objects.filter(token__jti__in=jtis).count() == 3
    user.is_active = True  # even if someone flips the flag back by hand, the old tokens stay dead
    user.save()
    assert all(api_client.post(REFRESH, {"refresh": token}).status_code == 401 for token in tokens)


def test_a_role_change_takes_effect_on_the_next_request(api_client):
    user = UserFactory(roles=["viewer"])
    tokens = login(api_client, user.username)
    assert "automl:run" not in api_client.get(ME, **bearer(tokens["access"])).json()["capabilities"]
    user.groups.set(Group.objects.filter(name="ml_engineer"))
    assert "automl:run" in api_client.get(ME, **bearer(tokens["access"])).json()["capabilities"]


def test_session_authentication_works_for_the_api_and_unsafe_calls_need_csrf():
    from django.test import Client

    user = UserFactory()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get(ME).json()["username"] == user.username
    refresh = str(RefreshToken.for_user(user))
    refused = browser.post(LOGOUT, {"refresh": refresh}, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]


def test_auth_endpoints_also_answer_with_a_trailing_slash(api_client):
    user = UserFactory()
    response = api_client.post(LOGIN + "/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 200
    assert api_client.get(ME + "/", **bearer(response.json()["access"])).json()["username"] == user.username
