"""The user admin: roles instead of raw groups and permissions; role, activation and password changes go
through the account services, so they obey the same rules (only a superuser changes a superuser) and
land in the audit log."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from apps.accounts import services
from apps.accounts.models import RevokedAccessToken, User
from apps.accounts.roles import DEFAULT_ROLE, Role, has_capability
from apps.core.clientip import client_ip
from apps.core.exceptions import DomainError


def _roles_field(initial=None) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=Role.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=initial or [DEFAULT_ROLE],
        help_text="Global roles; see docs/permissions.md for what each one may do.",
    )


class UserChangeWithRolesForm(UserChangeForm):
    roles = _roles_field()

    class Meta(UserChangeForm.Meta):
        model = User

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["roles"].initial = self.instance.roles

    def clean(self):
        cleaned = super().clean()
        actor = getattr(self, "actor", None)
        stored = User.objects.get(pk=self.instance.pk)
        try:
            if "roles" in cleaned:
                services.user_roles_check(actor=actor, user=stored, roles=cleaned["roles"])
            if stored.is_active and cleaned.get("is_active") is False:
                services.user_deactivate_check(actor=actor, user=stored)
        except DomainError as exc:
            raise DjangoValidationError(exc.message) from exc
        return cleaned


class UserCreationWithRolesForm(AdminUserCreationForm):
    roles = _roles_field()

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Accounts with their roles. Deleting is not offered: deactivate instead (history stays)."""

    form = UserChangeWithRolesForm
    add_form = UserCreationWithRolesForm
    list_display = ("username", "email", "role_list", "is_active", "is_staff", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "groups")
    readonly_fields = ("last_login", "date_joined", "is_staff")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("roles", "is_active", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "password1", "password2", "roles")}),
    )
    actions = ["deactivate_users"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="roles")
    def role_list(self, user: User) -> str:
        return ", ".join(user.roles) or "-"

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields.append("is_superuser")
        return fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user
        return form

    def has_module_permission(self, request) -> bool:
        return has_capability(request.user, "users:manage")

    def has_view_permission(self, request, obj=None) -> bool:
        return has_capability(request.user, "users:manage")

    def has_change_permission(self, request, obj=None) -> bool:
        """``users:manage``, and for a superuser's account (its form and its password form) a superuser."""
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return has_capability(request.user, "users:manage")

    def has_add_permission(self, request) -> bool:
        return has_capability(request.user, "users:manage")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        ip = client_ip(request)
        roles = list(form.cleaned_data.get("roles") or [DEFAULT_ROLE])
        if not change:
            super().save_model(request, obj, form, change)
            services.user_roles_set(actor=request.user, user=obj, roles=roles, ip=ip)
            return
        stored = User.objects.get(pk=obj.pk)
        wanted_active = obj.is_active
        obj.is_active = stored.is_active  # activation changes go through the services below
        super().save_model(request, obj, form, change)
        services.user_roles_set(actor=request.user, user=obj, roles=roles, ip=ip)
        if stored.is_active and not wanted_active:
            services.user_deactivate(actor=request.user, user=obj, ip=ip)
        elif not stored.is_active and wanted_active:
            services.user_reactivate(actor=request.user, user=obj, ip=ip)

    def user_change_password(self, request, id, form_url=""):
        """Django's password form (it checks ``has_change_permission`` for this account); a password it set
        ends every token and session of the account and is audited, in the same transaction."""
        with transaction.atomic():
            before = User.objects.filter(pk=unquote(id)).values_list("password", flat=True).first()
            response = super().user_change_password(request, id, form_url)
            user = User.objects.filter(pk=unquote(id)).first()
            if request.method == "POST" and user is not None and before is not None and user.password != before:
                services.user_password_changed(actor=request.user, user=user, ip=client_ip(request), channel="admin")
                if user.pk == request.user.pk:  # one's own password: this session goes on
                    update_session_auth_hash(request, user)
        return response

    def save_related(self, request, form, formsets, change):
        # Groups and permissions are not on the form: roles were applied by save_model.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @admin.action(description="Deactivate the selected users (their tokens stop working)")
    def deactivate_users(self, request, queryset):
        done = 0
        for user in queryset:
            try:
                services.user_deactivate(actor=request.user, user=user, ip=client_ip(request))
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{user.username}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"Deactivated {done} user(s).", messages.SUCCESS)


@admin.register(RevokedAccessToken)
class RevokedAccessTokenAdmin(admin.ModelAdmin):
    """Access tokens ended by signing out (read-only; rows go once the token would have expired)."""

    list_display = ("jti", "user", "revoked_at", "expires_at")
    readonly_fields = ("jti", "user", "revoked_at", "expires_at")
    actions = None

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
