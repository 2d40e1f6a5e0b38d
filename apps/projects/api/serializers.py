from rest_framework import serializers

from apps.accounts.roles import is_platform_admin
from apps.projects.choices import ProjectRole
from apps.projects.models import Dataset, Project, ProjectMembership


class ProjectSerializer(serializers.ModelSerializer):
    owner_username = serializers.CharField(source="owner.username", read_only=True)
    role = serializers.SerializerMethodField(help_text="The requesting user's role in the project.")
    n_datasets = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "owner",
            "owner_username",
            "is_archived",
            "role",
            "n_datasets",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_role(self, project) -> str | None:
        role = getattr(project, "member_role", None)
        if role:
            return role
        request = self.context.get("request")
        if request is not None and is_platform_admin(request.user):
            return ProjectRole.OWNER
        return None


class ProjectCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ProjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    is_archived = serializers.BooleanField(required=False)


class MembershipSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = ProjectMembership
        fields = ["user_id", "username", "role", "joined_at"]
        read_only_fields = fields


class MemberSetSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1)
    role = serializers.ChoiceField(choices=ProjectRole.choices)


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    dtype = serializers.ChoiceField(choices=["numeric", "categorical", "text", "datetime", "boolean"])
    n_missing = serializers.IntegerField()
    n_unique = serializers.IntegerField()


class DatasetSerializer(serializers.ModelSerializer):
    columns = ColumnSerializer(many=True, read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "project",
            "name",
            "n_rows",
            "n_columns",
            "columns",
            "sha256",
            "size_bytes",
            "file_format",
            "original_filename",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class DatasetDetailSerializer(DatasetSerializer):
    profile = serializers.JSONField(read_only=True, help_text="Full per-column statistics (min/max/mean, top values).")

    class Meta(DatasetSerializer.Meta):
        fields = [*DatasetSerializer.Meta.fields, "profile"]
        read_only_fields = fields


class DatasetUploadSerializer(serializers.Serializer):
    project = serializers.IntegerField(min_value=1)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    file = serializers.FileField(allow_empty_file=True, use_url=False)


class DatasetPreviewSerializer(serializers.Serializer):
    dataset = serializers.IntegerField()
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.DictField())
    n_rows = serializers.IntegerField()
    total_rows = serializers.IntegerField()
