"""Auth and user-management endpoints (``/api/v1/auth/...``, ``/api/v1/users...``)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from apps.accounts import services
from apps.accounts.api.serializers import (
    LoginInputSerializer,
    MeSerializer,
    RefreshInputSerializer,
    RegisteredUserSerializer,
    RegisterInputSerializer,
    RolesInputSerializer,
    TokenPairSerializer,
    UserCreateInputSerializer,
    UserSerializer,
)
from apps.accounts.models import User
from apps.accounts.permissions import capability_required
from apps.accounts.roles import Role
from apps.accounts.selectors import users_list
from apps.core.api.base import UNSCOPED, BooleanFilter, FilterSerializer, IsActiveUser, ScopedAPIView, parse_filters
from apps.core.clientip import client_ip
from apps.core.exceptions import NotFound
from apps.core.ratelimit import RateLimited, ratelimit_enforce


def login_rate_limits(username: str) -> list[tuple]:
    """The limits one sign-in attempt counts against: per client IP and per (case-folded) user name."""
    name = (username or "").strip().casefold()[:150]
    return [
        ("auth-login-ip", "ip", settings.RATELIMIT_LOGIN),
        ("auth-login-username", lambda group, request: name, settings.RATELIMIT_LOGIN),
    ]


def _posted(request, field: str) -> str:
    value = request.data.get(field, "") if hasattr(request.data, "get") else ""
    return value if isinstance(value, str) else ""


class AccountView(ScopedAPIView):
    """Accounts belong to no project: these views are unscoped and decide access by role."""

    abstract = True
    project_field = UNSCOPED


class PublicAuthView(AccountView):
    """Sign-up, sign-in and refresh: open to anonymous callers, no credentials read."""

    abstract = True
    authentication_classes: list = []
    permission_classes = [AllowAny]


class RegisterView(PublicAuthView):
    """Public sign-up; the new account is a ``viewer``."""

    serializer_class = RegisterInputSerializer  # what OPTIONS describes (without one, OPTIONS answered 500)

    @extend_schema(request=RegisterInputSerializer, responses={201: RegisteredUserSerializer})
    def post(self, request):
        ratelimit_enforce(request, limits=[("auth-register", "ip", settings.RATELIMIT_REGISTER)])
        data = RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data, ip=client_ip(request))
        return Response(RegisteredUserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(PublicAuthView):
    """Exchange a user name and password for an access and a refresh token. Rate-limited per IP and name."""

    serializer_class = LoginInputSerializer  # what OPTIONS describes (without one, OPTIONS answered 500)

    @extend_schema(request=LoginInputSerializer, responses={200: TokenPairSerializer})
    def post(self, request):
        username = _posted(request, "username")
        try:
            ratelimit_enforce(request, limits=login_rate_limits(username))
        except RateLimited:
            services.auth_rate_limited_record(username=username, ip=client_ip(request), channel="api")
            raise
        data = LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tokens = services.auth_login(**data.validated_data, ip=client_ip(request), request=request._request)
        return Response(tokens)


class RefreshView(PublicAuthView):
    """Rotate a refresh token: the answer holds a new pair; the token sent is blacklisted."""

    serializer_class = RefreshInputSerializer  # what OPTIONS describes (without one, OPTIONS answered 500)

    @extend_schema(request=RefreshInputSerializer, responses={200: TokenPairSerializer})
    def post(self, request):
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(services.auth_refresh(refresh=data.validated_data["refresh"], ip=client_ip(request)))


class LogoutView(AccountView):
    """Sign out: the refresh token sent (and the access token used for this call) stop working."""

    serializer_class = RefreshInputSerializer  # what OPTIONS describes (without one, OPTIONS answered 500)

    @extend_schema(request=RefreshInputSerializer, responses={205: None})
    def post(self, request):
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        access = request.auth if hasattr(request.auth, "get") else None
        services.auth_logout(
            user=request.user,
            refresh=data.validated_data["refresh"],
            access_jti=access.get("jti") if access else None,
            access_exp=access.get("exp") if access else None,
            ip=client_ip(request),
        )
        return Response(status=status.HTTP_205_RESET_CONTENT)


class MeView(AccountView):
    """The signed-in account: ``{id, username, email, roles, is_staff}`` and its capabilities."""

    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class UserFilter(FilterSerializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_active = BooleanFilter()
    search = serializers.CharField(required=False, max_length=150)


class UsersAdminView(AccountView):
    """User administration: the ``users:manage`` capability."""

    abstract = True
    permission_classes = [IsActiveUser, capability_required("users:manage")]

    def get_user(self, pk: int) -> User:
        user = User.objects.prefetch_related("groups").filter(pk=pk).first()
        if user is None:
            raise NotFound("No such user.")
        return user


class UserListCreateView(UsersAdminView):
    """Administrators: every account (``?role=``, ``?is_active=``, ``?search=``), and new accounts."""

    serializer_class = UserSerializer

    def get_queryset(self):
        return users_list(**parse_filters(UserFilter, self.request))

    @extend_schema(
        parameters=[
            OpenApiParameter("role", str, description="Only users with this role"),
            OpenApiParameter("is_active", bool, description="Only active (true) or deactivated (false) users"),
            OpenApiParameter("search", str, description="Part of the user name"),
        ],
        responses={200: UserSerializer(many=True)},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(UserSerializer(page, many=True).data)

    @extend_schema(request=UserCreateInputSerializer, responses={201: UserSerializer})
    def post(self, request):
        data = UserCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_create(actor=request.user, **data.validated_data, ip=client_ip(request))
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class UserDetailView(UsersAdminView):
    """Administrators: one account; DELETE deactivates it (history is never deleted)."""

    @extend_schema(responses={200: UserSerializer})
    def get(self, request, pk: int):
        return Response(UserSerializer(self.get_user(pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        services.user_deactivate(actor=request.user, user=self.get_user(pk), ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserRolesView(UsersAdminView):
    """Administrators: replace an account's global roles."""

    @extend_schema(request=RolesInputSerializer, responses={200: UserSerializer})
    def patch(self, request, pk: int):
        user = self.get_user(pk)
        data = RolesInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_roles_set(
            actor=request.user, user=user, roles=data.validated_data["roles"], ip=client_ip(request)
        )
        return Response(UserSerializer(self.get_user(pk)).data)
