"""Operators' pages for projects (with their members) and datasets.

Membership edits go through the membership services so guardian object permissions stay in step;
datasets are only uploaded through the API or the pages (which validate, hash and profile them), so
here their hash, size and profile are read-only.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from apps.core.exceptions import DomainError
from apps.projects.choices import ProjectRole
from apps.projects.models import Dataset, Project, ProjectMembership
from apps.projects.services import dataset_remove, project_member_set, project_member_unset, project_remove


class MembershipInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("user")
        ]
        if self.instance.pk and not any(data.get("role") == ProjectRole.OWNER for data in kept):
            raise forms.ValidationError("A project keeps at least one owner.")
        inactive = [data["user"].username for data in kept if not data["user"].is_active]
        if inactive:
            raise forms.ValidationError(f"Deactivated users cannot be members: {', '.join(inactive)}.")


class ProjectMembershipInline(admin.TabularInline):
    model = ProjectMembership
    formset = MembershipInlineFormSet
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    raw_id_fields = ("user",)
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "is_archived", "member_count", "dataset_count", "created_at")
    list_filter = ("is_archived", "created_at")
    search_fields = ("name", "description", "owner__username")
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")
    inlines = [ProjectMembershipInline]
    date_hierarchy = "created_at"

    @admin.display(description="members")
    def member_count(self, project) -> int:
        return project.memberships.count()

    @admin.display(description="datasets")
    def dataset_count(self, project) -> int:
        return project.datasets.count()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # The recorded owner is always an owner member (as project_create makes it).
        if not ProjectMembership.objects.filter(project=obj, user=obj.owner, role=ProjectRole.OWNER).exists():
            project_member_set(project=obj, user=obj.owner, role=ProjectRole.OWNER)

    def save_formset(self, request, form, formset, change):
        if formset.model is not ProjectMembership:
            return super().save_formset(request, form, formset, change)
        project = form.instance
        # What the admin's change message reads (formset.save() is not used: the services write).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.forms:
            data = inline_form.cleaned_data
            if not data or not data.get("user"):
                continue
            previous = inline_form.instance if inline_form.instance.pk else None
            try:
                if data.get("DELETE"):
                    if previous is not None:
                        project_member_unset(project=project, user=previous.user)
                        formset.deleted_objects.append(previous)
                    continue
                if previous is not None and not inline_form.has_changed():
                    continue
                if previous is not None and previous.user_id != data["user"].pk:
                    project_member_unset(project=project, user=previous.user)
                membership = project_member_set(project=project, user=data["user"], role=data["role"])
                if previous is None:
                    formset.new_objects.append(membership)
                else:
                    formset.changed_objects.append((membership, inline_form.changed_data))
            except DomainError as exc:
                self.message_user(request, f"{data['user']}: {exc.message}", level=messages.ERROR)
        project.refresh_from_db()

    def delete_model(self, request, obj):
        try:
            project_remove(project=obj)
        except DomainError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)

    def delete_queryset(self, request, queryset):
        for project in queryset:
            self.delete_model(request, project)


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "file_format", "n_rows", "n_columns", "size_bytes", "short_sha256", "created_at")
    list_filter = ("file_format", "project__is_archived", "created_at", ("project", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "original_filename", "sha256", "project__name", "created_by__username")
    list_select_related = ("project", "created_by")
    date_hierarchy = "created_at"
    fields = (
        "name",
        "project",
        "file",
        "original_filename",
        "file_format",
        "sha256",
        "size_bytes",
        "n_rows",
        "n_columns",
        "created_by",
        "created_at",
        "updated_at",
        "column_table",
        "profile_json",
    )
    readonly_fields = tuple(field for field in fields if field != "name")

    @admin.display(description="SHA-256")
    def short_sha256(self, dataset) -> str:
        return dataset.sha256[:12]

    @admin.display(description="columns")
    def column_table(self, dataset) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (column.get("name"), column.get("dtype"), column.get("n_missing"), column.get("n_unique"))
                for column in dataset.columns
            ),
        )
        return format_html(
            "<table><thead><tr><th>name</th><th>dtype</th><th>missing</th><th>distinct</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="profile")
    def profile_json(self, dataset) -> str:
        return format_html("<pre>{}</pre>", json.dumps(dataset.profile, indent=2, ensure_ascii=False))

    def has_add_permission(self, request) -> bool:
        return False

    def delete_model(self, request, obj):
        try:
            dataset_remove(dataset=obj)
        except DomainError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)

    def delete_queryset(self, request, queryset):
        for dataset in queryset:
            self.delete_model(request, dataset)
