"""Every URL is either named public here or refuses anonymous callers, and every API view inherits the
scoping base. The URLs come from the resolver, not a hand-written list: a new endpoint that forgets
its base or its login fails this file."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator

import pytest
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.base import ScopedAPIView

pytestmark = pytest.mark.django_db

# Routes anyone may call. Everything else answers 401 (API) or sends to a login page.
PUBLIC = {
    "health",
    "health/live",
    "health/ready",
    "metrics",
    "",  # the landing page: a sign-in prompt for visitors, the user's projects once signed in
    "accounts/login/",
    "accounts/logout/",
    "api/v1/schema/",
    "api/v1/docs/",
    "api/v1/auth/register",
    "api/v1/auth/login",
    "api/v1/auth/refresh",
}
# Routes guarded by something else than a login: they answer 404 to an anonymous caller, as if absent.
# /health/deep: operators only, by an admin session or the HEALTH_CHECK_TOKEN (apps.core.views).
NOT_FOUND_UNLESS_ALLOWED = {"health/deep"}
# drf-spectacular's own views serve the OpenAPI document; they hold no project data.
API_VIEWS_WITHOUT_BASE = {"api/v1/schema/", "api/v1/docs/"}
METHODS = ("get", "post", "put", "patch", "delete")


def walk(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def route_to_url(route: str) -> str:
    """``projects/<int:pk>/members`` → ``/projects/1/members``; regex routes (the admin's) get plain values."""
    url = re.sub(r"<(?:int:)?[^>]+>", "1", route)
    url = re.sub(r"\(\?P<[^>]+>[^)]*\)", "1", url)
    return "/" + url.lstrip("^").rstrip("$").replace("\\", "")


def view_class(pattern: URLPattern):
    return getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)


def normalised(route: str) -> str:
    return route.rstrip("/") if route.rstrip("/") + "/" == route and route.rstrip("/") in PUBLIC else route


def api_views_without_base(urlconf=None) -> list[str]:
    """Routes under ``api/v1/`` whose view does not inherit :class:`ScopedAPIView`."""
    problems = []
    for route, pattern in walk(get_resolver(urlconf).url_patterns):
        if not route.startswith("api/v1/") or route in API_VIEWS_WITHOUT_BASE:
            continue
        cls = view_class(pattern)
        if cls is None or not issubclass(cls, ScopedAPIView):
            problems.append(f"{route} ({getattr(cls, '__name__', pattern.callback.__name__)})")
    return problems


def open_to_anonymous(client: Client, urlconf=None) -> list[str]:
    """Routes outside PUBLIC that an anonymous caller gets something other than a refusal from."""
    problems = []
    for route, pattern in walk(get_resolver(urlconf).url_patterns):
        if normalised(route) in PUBLIC or route.startswith(("admin/", "static/", "media/")):
            continue
        url = route_to_url(route)
        cls = view_class(pattern)
        methods = [m for m in METHODS if cls is None or hasattr(cls, m)] or ["get"]
        refused_once = False
        for method in methods:
            response = getattr(client, method)(url)
            if route in NOT_FOUND_UNLESS_ALLOWED:
                ok = response.status_code in (404, 405)
                refused_once |= response.status_code == 404
                if not ok:
                    problems.append(f"{method.upper()} {url} -> {response.status_code}")
                continue
            if route.startswith("api/"):
                ok = response.status_code == 401
            else:
                ok = response.status_code == 405 or (
                    response.status_code == 302 and response["Location"].startswith("/accounts/login/")
                )
            refused_once |= response.status_code in (401, 302)
            if not ok:
                problems.append(f"{method.upper()} {url} -> {response.status_code}")
        if not refused_once:
            problems.append(f"{url}: no method refused the anonymous caller")
    return problems


def test_every_api_view_inherits_the_scoping_base():
    assert api_views_without_base() == []


def test_every_url_but_the_public_ones_refuses_anonymous_callers(client):
    assert open_to_anonymous(client) == []


def test_the_admin_sends_anonymous_callers_to_its_login(client):
    for route, _pattern in walk(get_resolver().url_patterns):
        if (
            route.startswith("admin/")
            and "<" not in route
            and "(?P" not in route
            and route not in ("admin/login/", "admin/logout/")
        ):
            response = client.get(route_to_url(route))
            assert response.status_code in (302, 404), route
            if response.status_code == 302:
                assert "/admin/login/" in response["Location"]


def test_public_list_names_routes_that_exist():
    routes = {normalised(route) for route, _ in walk(get_resolver().url_patterns)}
    assert PUBLIC - routes == set()


# ---------------------------------------------------------------------------
# The checks catch what they are for: a throw-away URLconf with a forgetful endpoint
# ---------------------------------------------------------------------------
class ForgetfulView(APIView):
    """Neither the base nor a login: both checks must name it."""

    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"secret": "everyone sees this"})


def forgetful_page(request):
    from django.http import HttpResponse

    return HttpResponse("open page")


@pytest.fixture
def throwaway_urlconf():
    module = types.ModuleType("tests.core.throwaway_urls")
    module.urlpatterns = [
        path("api/v1/leaky", ForgetfulView.as_view()),
        path("leaky-page", forgetful_page),
    ]
    sys.modules[module.__name__] = module
    with override_settings(ROOT_URLCONF=module.__name__):
        yield module.__name__
    del sys.modules[module.__name__]


def test_checks_name_an_endpoint_without_the_base_or_a_login(throwaway_urlconf, client):
    assert api_views_without_base(throwaway_urlconf) == ["api/v1/leaky (ForgetfulView)"]
    problems = open_to_anonymous(client, throwaway_urlconf)
    assert "GET /api/v1/leaky -> 200" in problems
    assert "GET /leaky-page -> 200" in problems


def test_a_scoped_view_that_forgets_its_project_field_is_refused_at_import():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="must say how its objects reach a project"):
        type("Unsaid", (ScopedAPIView,), {"__module__": __name__})
