"""Session sign-in and sign-out pages, and the admin's sign-in (the same rate limits and audit as the
API's auth endpoints)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from apps.accounts import services
from apps.accounts.api.views import login_rate_limits
from apps.core.clientip import client_ip
from apps.core.ratelimit import RateLimited, ratelimit_enforce


def _rate_limited_page(request, exc: RateLimited):
    response = render(request, "accounts/rate_limited.html", {"retry_after": exc.retry_after}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class LoginView(auth_views.LoginView):
    """``/accounts/login/``: Django's sign-in form, rate-limited per IP and user name like ``auth/login``."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        try:
            ratelimit_enforce(request, limits=login_rate_limits(username))
        except RateLimited as exc:
            services.auth_rate_limited_record(username=username, ip=client_ip(request), channel="web")
            return _rate_limited_page(request, exc)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        user = form.get_user()
        services.auth_attempt_record(user=user, username=user.get_username(), ip=client_ip(self.request), channel="web")
        return response

    def form_invalid(self, form):
        username = self.request.POST.get("username", "")
        services.auth_attempt_record(user=None, username=username, ip=client_ip(self.request), channel="web")
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    """``/accounts/logout/``: GET asks for confirmation, POST (with CSRF) signs out."""

    http_method_names = ["get", "post", "options"]
    template_name = "registration/logout_confirm.html"

    def get(self, request, *args, **kwargs):
        return render(request, self.template_name)

    def post(self, request, *args, **kwargs):
        services.auth_session_logout_record(user=request.user, ip=client_ip(request))
        return super().post(request, *args, **kwargs)


@sensitive_post_parameters("password")
@never_cache
def admin_login(request, extra_context=None):
    """``/admin/login/`` (routed before the admin's own URLs): the admin site's sign-in form, counted against
    the limits of ``auth/login`` (per IP and per user name, shared with it and the page sign-in) and audited
    with ``channel: admin``. An account the admin refuses (no staff access) is a failed sign-in."""
    if request.method != "POST":
        return admin.site.login(request, extra_context)
    username = request.POST.get("username", "")
    ip = client_ip(request)
    try:
        ratelimit_enforce(request, limits=login_rate_limits(username))
    except RateLimited as exc:
        services.auth_rate_limited_record(username=username, ip=ip, channel="admin")
        return _rate_limited_page(request, exc)
    before = getattr(request, "user", None)
    response = admin.site.login(request, extra_context)
    user = getattr(request, "user", None)
    signed_in = response.status_code == 302 and getattr(user, "is_authenticated", False) and user is not before
    if signed_in:
        services.auth_attempt_record(user=user, username=user.get_username(), ip=ip, channel="admin")
    else:
        services.auth_attempt_record(user=None, username=username, ip=ip, channel="admin")
    return response
