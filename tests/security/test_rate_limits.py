"""Rate limits: counted in the cache, 429 with a Retry-After that says when the window ends."""

import pytest
from django.utils.decorators import method_decorator
from django_ratelimit.decorators import ratelimit
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from apps.core.models import AuditLogEntry
from apps.core.ratelimit import parse_rate, setting_rate
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import (
    LOGIN,
    ME,
    REFRESH,
    away_from_window_edges,
    bearer,
    login,
    seconds_to_window_end,
)

pytestmark = pytest.mark.django_db


def test_sixth_login_within_a_minute_is_429_with_retry_after(api_client):
    user = UserFactory()
    away_from_window_edges("127.0.0.1", user.username.casefold())
    for attempt in range(5):
        password = PASSWORD if attempt % 2 else "Wrong-password-1"
        assert api_client.post(LOGIN, {"username": user.username, "password": password}).status_code in (200, 401)
    response = api_client.post(LOGIN, {"username": user.username, "password": PASSWORD})
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    # Both the per-IP and the per-name limit are exceeded: the later of their windows decides.
    expected = max(1, seconds_to_window_end("127.0.0.1", 60), seconds_to_window_end(user.username.casefold(), 60))
    assert abs(retry_after - expected) <= 1
    assert "retry in" in response.json()["detail"]
    assert AuditLogEntry.objects.filter(action="auth.login_rate_limited", actor_username=user.username).exists()


def test_login_limit_per_user_name_holds_across_addresses(api_client):
    user = UserFactory()
    away_from_window_edges(user.username.casefold())
    for number in range(5):
        api_client.post(LOGIN, {"username": user.username, "password": "x-wrong-123"}, REMOTE_ADDR=f"192.0.2.{number}")
    blocked = api_client.post(
        LOGIN, {"username": user.username.upper(), "password": PASSWORD}, REMOTE_ADDR="192.0.2.99"
    )
    assert blocked.status_code == 429
    other = UserFactory()
    assert (
        api_client.post(LOGIN, {"username": other.username, "password": PASSWORD}, REMOTE_ADDR="192.0.2.99").status_code
        == 200
    )


def test_login_limit_per_address_holds_across_user_names(api_client):
    away_from_window_edges("198.51.100.1")
    for number in range(5):
        api_client.post(LOGIN, {"username": f"guess{number}", "password": "x-wrong-123"}, REMOTE_ADDR="198.51.100.1")
    user = UserFactory()
    assert (
        api_client.post(
            LOGIN, {"username": user.username, "password": PASSWORD}, REMOTE_ADDR="198.51.100.1"
        ).status_code
        == 429
    )
    assert (
        api_client.post(
            LOGIN, {"username": user.username, "password": PASSWORD}, REMOTE_ADDR="198.51.100.2"
        ).status_code
        == 200
    )


def test_retry_after_matches_a_longer_rate(api_client, settings):
    settings.RATELIMIT_LOGIN = "1/h"
    user = UserFactory()
    away_from_window_edges("203.0.113.10", user.username.casefold(), period=3600)
    login(api_client, user.username, REMOTE_ADDR="203.0.113.10")
    blocked = api_client.post(LOGIN, {"username": user.username, "password": PASSWORD}, REMOTE_ADDR="203.0.113.10")
    assert blocked.status_code == 429
    by_ip = seconds_to_window_end("203.0.113.10", 3600)
    by_name = seconds_to_window_end(user.username.casefold(), 3600)
    assert abs(int(blocked["Retry-After"]) - max(1, by_ip, by_name)) <= 1


def test_api_default_limit_is_per_user_and_lowerable(api_client, settings):
    settings.RATELIMIT_API = "3/m"
    busy, calm = UserFactory(), UserFactory()
    away_from_window_edges(str(busy.pk))
    busy_token = login(api_client, busy.username)["access"]
    calm_token = login(api_client, calm.username)["access"]
    assert [api_client.get(ME, **bearer(busy_token)).status_code for _ in range(3)] == [200, 200, 200]
    limited = api_client.get(ME, **bearer(busy_token))
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert api_client.get(ME, **bearer(calm_token)).status_code == 200


def test_anonymous_api_calls_are_limited_per_address(api_client, settings):
    settings.RATELIMIT_API = "2/m"
    away_from_window_edges("192.0.2.200")
    statuses = [api_client.post(REFRESH, {"refresh": "x"}, REMOTE_ADDR="192.0.2.200").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


class LimitedJobsView(APIView):
    """Stands in for a view limited with django-ratelimit's decorator, as AutoML job creation is."""

    @method_decorator(
        ratelimit(group="automl-jobs", key="user", rate=setting_rate("RATELIMIT_AUTOML_JOBS"), block=True)
    )
    def post(self, request):
        return Response({"ok": True}, status=202)


def test_decorator_limited_group_answers_429_with_its_own_window(settings):
    settings.RATELIMIT_AUTOML_JOBS = "2/h"
    user = UserFactory(roles=["ml_engineer"])
    factory, view = APIRequestFactory(), LimitedJobsView.as_view()

    def post():
        request = factory.post("/jobs", {}, format="json")
        force_authenticate(request, user=user)
        return view(request)

    away_from_window_edges(str(user.pk), period=3600)
    assert [post().status_code for _ in range(2)] == [202, 202]
    blocked = post()
    assert blocked.status_code == 429
    assert abs(int(blocked["Retry-After"]) - max(1, seconds_to_window_end(str(user.pk), 3600))) <= 1


def test_rate_limits_can_be_switched_off(api_client, settings):
    settings.RATELIMIT_ENABLE = False
    user = UserFactory()
    statuses = {api_client.post(LOGIN, {"username": user.username, "password": PASSWORD}).status_code for _ in range(8)}
    assert statuses == {200}


@pytest.mark.parametrize(
    ("rate", "parsed"), [("5/m", (5, 60)), ("100/m", (100, 60)), ("10/h", (10, 3600)), ("10/2h", (10, 7200))]
)
def test_rates_parse(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["5 per minute", "5/min", "/m", "5"])
def test_malformed_rates_are_refused(rate):
    with pytest.raises(ValueError, match="is not a rate"):
        parse_rate(rate)
