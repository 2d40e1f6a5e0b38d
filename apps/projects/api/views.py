"""Projects, members and datasets API: parse with an input serializer, call one service, serialize.

Every view inherits ``ScopedAPIView``: objects of projects the user cannot see answer 404; the
services answer 403 for visible projects where the user's role or capability falls short.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from apps.core.api.base import FilterSerializer, ProjectFilter, ScopedAPIView, parse_filters, validated
from apps.core.api.parsers import BoundedFormParser
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


# ---------------------------------------------------------------------------
# Projects
# ---------------------------------------------------------------------------
class ProjectView(ScopedAPIView):
    """Projects are their own scope: the queryset is the projects the user can see."""

    abstract = True
    project_field = ""
    serializer_class = ProjectSerializer

    def get_queryset(self):
        return projects_for_user(user=self.request.user)


class ProjectListCreateView(ProjectView, generics.ListAPIView):
    """GET: the projects you may see. POST ``{name, description}``: a new project you own."""

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
class ProjectDetailView(ProjectView):
    """GET a project; PATCH ``name``/``description``/``is_archived`` (owners); DELETE an empty one (owners)."""

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


class ProjectMembersView(ScopedAPIView, generics.ListAPIView):
    """GET the members of a project. POST ``{user_id, role}`` adds a member or changes their role (owners)."""

    project_field = "project"
    serializer_class = MembershipSerializer

    def project(self) -> Project:
        return project_get_visible(user=self.request.user, project_id=self.kwargs["pk"])

    def get_queryset(self):
        return self.restrict(project_members(project=self.project()))

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


class ProjectMemberDetailView(ScopedAPIView):
    """DELETE a member from a project (owners; any member may remove themselves)."""

    project_field = "project"
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
class DatasetFilter(FilterSerializer):
    project = ProjectFilter(source="project_id")


@extend_schema_view(
    get=extend_schema(
        parameters=[OpenApiParameter("project", OpenApiTypes.INT, description="Only datasets of this project.")]
    )
)
class DatasetListCreateView(ScopedAPIView, generics.ListAPIView):
    """GET datasets (``?project=<id>``); POST multipart ``project``, ``name``, ``file`` uploads a CSV."""

    project_field = "project"
    filter_serializer_class = DatasetFilter
    queryset = Dataset.objects.select_related("project", "created_by")
    serializer_class = DatasetSerializer
    parser_classes = [MultiPartParser, BoundedFormParser]

    def initialize_request(self, request, *args, **kwargs):
        if request.method == "POST":
            use_dataset_upload_handler(request)  # before anything (even the CSRF check) reads the body
        return super().initialize_request(request, *args, **kwargs)

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
class DatasetDetailView(ScopedAPIView, generics.RetrieveDestroyAPIView):
    """GET a dataset with its full profile; DELETE it (editor + ``datasets:delete``; 409 while in use)."""

    project_field = "project"
    queryset = Dataset.objects.select_related("project", "created_by")
    serializer_class = DatasetDetailSerializer

    def perform_destroy(self, instance):
        dataset_delete(user=self.request.user, dataset=instance)


class PreviewQuery(FilterSerializer):
    rows = serializers.IntegerField(
        required=False, min_value=1, error_messages={"invalid": "rows must be a whole number."}
    )


class DatasetPreviewView(ScopedAPIView):
    """GET the first ``rows`` rows (default 20, capped by DATASET_PREVIEW_MAX_ROWS)."""

    project_field = "project"
    queryset = Dataset.objects.select_related("project")
    serializer_class = DatasetPreviewSerializer

    @extend_schema(parameters=[OpenApiParameter("rows", OpenApiTypes.INT, description="Rows to return.")])
    def get(self, request, pk):
        dataset = self.get_object()
        rows = preview_rows(parse_filters(PreviewQuery, request).get("rows"))
        return Response(dataset_preview(dataset=dataset, rows=rows))
