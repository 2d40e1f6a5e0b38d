"""Projects, members and datasets API: parse with an input serializer, call one service, serialize.

Objects of projects the user cannot see answer 404 (everything is looked up through
``projects_for_user`` / ``ProjectScopedMixin``); the services answer 403 for visible projects where
the user's role or capability falls short.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from apps.core.exceptions import NotFound, ValidationError
from apps.projects.api.serializers import (
    DatasetDetailSerializer,
    DatasetPreviewSerializer,
    DatasetSerializer,
    DatasetUploadSerializer,
    MemberSetSerializer,
    MembershipSerializer,
    ProjectCreateSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
)
from apps.projects.models import Dataset, Project
from apps.projects.permissions import ProjectScopedMixin
from apps.projects.selectors import (
    dataset_preview,
    preview_rows,
    project_get_visible,
    project_members,
    projects_for_user,
)
from apps.projects.services import (
    dataset_create,
    dataset_delete,
    project_create,
    project_delete,
    project_member_remove,
    project_member_upsert,
    project_update,
)
from apps.projects.uploads import use_dataset_upload_handler


def validated(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def id_param(value, *, field: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"{field} must be a whole number (an id), not {str(value)[:40]!r}.", field=field
        ) from None
    if number < 1:
        raise ValidationError(f"{field} must be a positive id.", field=field)
    return number


# ---------------------------------------------------------------------------
# Projects
# ---------------------------------------------------------------------------
class ProjectListCreateView(generics.ListAPIView):
    """GET: the projects you may see. POST ``{name, description}``: a new project you own."""

    serializer_class = ProjectSerializer

    def get_queryset(self):
        return projects_for_user(user=self.request.user)

    @extend_schema(request=ProjectCreateSerializer, responses={201: ProjectSerializer})
    def post(self, request):
        data = validated(ProjectCreateSerializer, request.data)
        project = project_create(owner=request.user, name=data["name"], description=data["description"])
        project = project_get_visible(user=request.user, project_id=project.pk)
        return Response(self.get_serializer(project).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    patch=extend_schema(request=ProjectUpdateSerializer, responses={200: ProjectSerializer}),
    delete=extend_schema(responses={204: None}),
)
class ProjectDetailView(generics.GenericAPIView):
    """GET a project; PATCH ``name``/``description``/``is_archived`` (owners); DELETE an empty one (owners)."""

    serializer_class = ProjectSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self) -> Project:
        return project_get_visible(user=self.request.user, project_id=self.kwargs["pk"])

    def get(self, request, pk):
        return Response(self.get_serializer(self.get_object()).data)

    def patch(self, request, pk):
        project = self.get_object()
        data = validated(ProjectUpdateSerializer, request.data)
        project_update(user=request.user, project=project, **data)
        return Response(self.get_serializer(self.get_object()).data)

    def delete(self, request, pk):
        project_delete(user=request.user, project=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectMembersView(generics.ListAPIView):
    """GET the members of a project. POST ``{user_id, role}`` adds a member or changes their role (owners)."""

    serializer_class = MembershipSerializer

    def project(self) -> Project:
        return project_get_visible(user=self.request.user, project_id=self.kwargs["pk"])

    def get_queryset(self):
        return project_members(project=self.project())

    @extend_schema(request=MemberSetSerializer, responses={200: MembershipSerializer, 201: MembershipSerializer})
    def post(self, request, pk):
        project = self.project()
        data = validated(MemberSetSerializer, request.data)
        user = get_user_model().objects.filter(pk=data["user_id"], is_active=True).first()
        if user is None:
            raise ValidationError(f"No active user has id {data['user_id']}.", field="user_id")
        membership, created = project_member_upsert(actor=request.user, project=project, user=user, role=data["role"])
        return Response(
            MembershipSerializer(membership).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class ProjectMemberDetailView(generics.GenericAPIView):
    """DELETE a member from a project (owners; any member may remove themselves)."""

    serializer_class = MembershipSerializer
    http_method_names = ["delete", "options"]

    @extend_schema(responses={204: None})
    def delete(self, request, pk, user_id):
        project = project_get_visible(user=request.user, project_id=pk)
        user = get_user_model().objects.filter(pk=user_id).first()
        if user is None:
            raise NotFound("No such user.")
        project_member_remove(actor=request.user, project=project, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------
@extend_schema_view(
    get=extend_schema(
        parameters=[OpenApiParameter("project", OpenApiTypes.INT, description="Only datasets of this project.")]
    )
)
class DatasetListCreateView(ProjectScopedMixin, generics.ListAPIView):
    """GET datasets (``?project=<id>``); POST multipart ``project``, ``name``, ``file`` uploads a CSV."""

    queryset = Dataset.objects.select_related("project", "created_by")
    serializer_class = DatasetSerializer
    parser_classes = [MultiPartParser, FormParser]

    def initialize_request(self, request, *args, **kwargs):
        if request.method == "POST":
            use_dataset_upload_handler(request)  # before anything (even the CSRF check) reads the body
        return super().initialize_request(request, *args, **kwargs)

    def get_queryset(self):
        queryset = super().get_queryset()
        project = self.request.query_params.get("project")
        if project not in (None, ""):
            project = project_get_visible(user=self.request.user, project_id=id_param(project, field="project"))
            queryset = queryset.filter(project=project)
        return queryset

    @extend_schema(
        request={"multipart/form-data": DatasetUploadSerializer},
        responses={
            201: DatasetDetailSerializer,
            409: inline_serializer(
                "DatasetDuplicate",
                {"detail": serializers.CharField(), "existing_dataset_id": serializers.IntegerField()},
            ),
        },
    )
    def post(self, request):
        data = validated(DatasetUploadSerializer, request.data)
        project = Project.objects.filter(pk=data["project"]).first()
        if project is None:
            raise NotFound("Project not found.")
        dataset = dataset_create(user=request.user, project=project, name=data["name"], file=data["file"])
        return Response(DatasetDetailSerializer(dataset).data, status=status.HTTP_201_CREATED)


@extend_schema_view(delete=extend_schema(responses={204: None}))
class DatasetDetailView(ProjectScopedMixin, generics.RetrieveDestroyAPIView):
    """GET a dataset with its full profile; DELETE it (editor + ``datasets:delete``; 409 while in use)."""

    queryset = Dataset.objects.select_related("project", "created_by")
    serializer_class = DatasetDetailSerializer

    def perform_destroy(self, instance):
        dataset_delete(user=self.request.user, dataset=instance)


class DatasetPreviewView(ProjectScopedMixin, generics.GenericAPIView):
    """GET the first ``rows`` rows (default 20, capped by DATASET_PREVIEW_MAX_ROWS)."""

    queryset = Dataset.objects.select_related("project")
    serializer_class = DatasetPreviewSerializer

    @extend_schema(parameters=[OpenApiParameter("rows", OpenApiTypes.INT, description="Rows to return.")])
    def get(self, request, pk):
        dataset = self.get_object()
        rows = preview_rows(request.query_params.get("rows"))
        return Response(dataset_preview(dataset=dataset, rows=rows))
