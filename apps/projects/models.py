from django.conf import settings
from django.db import models

from apps.core.models import TimeStampedModel
from apps.projects.choices import ProjectRole


class Project(TimeStampedModel):
    """A team's unit of work: datasets, jobs and models all belong to exactly one project."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_projects")
    is_archived = models.BooleanField(default=False, help_text="Archived projects stay readable but take no new jobs.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="project_name_unique_per_owner")]
        permissions = [("manage_project", "Can manage the members and settings of a project")]

    def __str__(self) -> str:
        return self.name


class ProjectMembership(TimeStampedModel):
    """A user's role in a project. The source of truth; object permissions are derived from it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_memberships")
    role = models.CharField(max_length=16, choices=ProjectRole.choices, default=ProjectRole.VIEWER)

    class Meta:
        ordering = ["project_id", "user_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_per_project"),
            models.CheckConstraint(
                condition=models.Q(role__in=[choice.value for choice in ProjectRole]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class Dataset(TimeStampedModel):
    """An uploaded tabular file with its SHA-256 and a stored profile (so listings never re-read files)."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="datasets")
    name = models.CharField(max_length=200)
    file = models.FileField(max_length=500)
    original_filename = models.CharField(max_length=255, blank=True)
    file_format = models.CharField(max_length=16, default="csv")
    sha256 = models.CharField(max_length=64, db_index=True)
    size_bytes = models.BigIntegerField()
    n_rows = models.PositiveIntegerField()
    n_columns = models.PositiveIntegerField()
    columns = models.JSONField(default=list, help_text="[{name, dtype, n_missing, n_unique, ...}] per column")
    profile = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="uploaded_datasets"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name
