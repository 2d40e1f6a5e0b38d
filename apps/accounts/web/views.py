"""Session sign-in and sign-out pages (the same rate limits and audit as the API's auth endpoints)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from apps.accounts import services
from apps.accounts.api.views import login_rate_limits
from apps.core.clientip import client_ip
from apps.core.ratelimit import RateLimited, ratelimit_enforce


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
            response = render(request, "accounts/rate_limited.html", {"retry_after": exc.retry_after}, status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
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
