"""Governance API: thin views that scope to the user's projects, call one service and serialize."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.core.api.base import UNSCOPED, ScopedAPIView, validated
from apps.core.exceptions import ValidationError
from apps.governance import notify, selectors, services
from apps.governance.api import serializers as s
from apps.governance.models import ApprovalPolicy, Notification, WebhookEndpoint
from apps.governance.record import record_render_pdf
from apps.projects.choices import ProjectRole
from apps.projects.models import Project
from apps.projects.permissions import check_project_access
from apps.projects.selectors import project_get_visible
from apps.registry.models import ModelVersion


class ApprovalView(ScopedAPIView):
    """Base of the approval-request endpoints: requests of projects the user cannot see are 404s."""

    abstract = True
    project_field = selectors.PROJECT_FIELD
    queryset = selectors.approval_requests_base()
    serializer_class = s.ApprovalDetailSerializer

    def detail(self, request_obj) -> dict:
        return selectors.approval_detail(request=request_obj, user=self.request.user)


class SubmitApprovalView(ScopedAPIView):
    """``POST models/{id}/submit-approval`` ``{comment}``: a new request in ``submitted``."""

    project_field = "registered_model__project"
    queryset = ModelVersion.objects.select_related("registered_model__project", "job")
    serializer_class = s.CommentSerializer

    @extend_schema(request=s.CommentSerializer, responses={201: s.ApprovalDetailSerializer})
    def post(self, request, pk: int):
        version = self.get_object()
        data = validated(s.CommentSerializer, request.data)
        approval = services.approval_request_submit(version=version, user=request.user, comment=data["comment"])
        approval = selectors.approval_requests_base().get(pk=approval.pk)
        return Response(selectors.approval_detail(request=approval, user=request.user), status=status.HTTP_201_CREATED)


@extend_schema(
    parameters=[
        OpenApiParameter("state", str, description="Only requests in this state"),
        OpenApiParameter("project", int, description="Only this project's requests"),
        OpenApiParameter("model_version", int, description="Only this version's requests"),
    ]
)
class ApprovalListView(ApprovalView, generics.ListAPIView):
    """The approvals queue: open requests first (the longest-waiting on top), then approved, then the rest."""

    serializer_class = s.ApprovalSummarySerializer
    filter_serializer_class = s.ApprovalFilter

    def get_queryset(self):
        return selectors.pending_first(super().get_queryset())


class ApprovalDetailView(ApprovalView):
    @extend_schema(responses=s.ApprovalDetailSerializer)
    def get(self, request, pk: int):
        return Response(self.detail(self.get_object()))


class ApprovalMoveView(ApprovalView):
    """``POST approvals/{id}/<move>`` ``{comment}`` → the approval (403 who may not, 409 when the state forbids)."""

    abstract = True
    serializer_class = s.CommentSerializer
    move = None

    @extend_schema(
        request=s.CommentSerializer,
        responses={
            200: s.ApprovalDetailSerializer,
            403: OpenApiResponse(description="You may not make this move (role or separation of duties)"),
            409: OpenApiResponse(description="Not from the request's state, or the automatic checks have not passed"),
        },
    )
    def post(self, request, pk: int):
        approval = self.get_object()
        data = validated(s.CommentSerializer, request.data)
        self.move(request=approval, user=request.user, comment=data["comment"])
        return Response(self.detail(self.get_queryset().get(pk=approval.pk)))


class StartReviewView(ApprovalMoveView):
    move = staticmethod(services.approval_request_start_review)


class StartTestingView(ApprovalMoveView):
    move = staticmethod(services.approval_request_start_testing)


class ApproveView(ApprovalMoveView):
    move = staticmethod(services.approval_request_approve)


class RejectView(ApprovalMoveView):
    move = staticmethod(services.approval_request_reject)


class DeployView(ApprovalView):
    """``POST approvals/{id}/deploy``: the registry's deployment and ``approved → deployed``, in one transaction."""

    serializer_class = s.CommentSerializer

    @extend_schema(request=s.CommentSerializer, responses={200: s.ApprovalDetailSerializer})
    def post(self, request, pk: int):
        approval = self.get_object()
        data = validated(s.CommentSerializer, request.data)
        approval, deployment = services.approval_request_deploy(
            request=approval, user=request.user, comment=data["comment"]
        )
        body = self.detail(self.get_queryset().get(pk=approval.pk))
        body["deployment"] = {
            "id": deployment.pk,
            "registered_model": deployment.registered_model_id,
            "model_version": deployment.model_version_id,
            "previous_version": deployment.previous_version_id,
            "deployed_by": deployment.deployed_by.username,
            "deployed_at": deployment.created_at,
        }
        return Response(body)


class RunChecksView(ApprovalView):
    """``POST approvals/{id}/run-checks``: run the automatic checks again (reviewers, in testing)."""

    serializer_class = s.CommentSerializer

    @extend_schema(request=None, responses={202: s.ApprovalDetailSerializer})
    def post(self, request, pk: int):
        approval = self.get_object()
        services.approval_request_rerun_checks(request=approval, user=request.user)
        return Response(self.detail(self.get_queryset().get(pk=approval.pk)), status=status.HTTP_202_ACCEPTED)


@extend_schema(
    parameters=[OpenApiParameter("format", str, enum=["json", "pdf"], description="Default json")],
    responses={(200, "application/json"): OpenApiTypes.OBJECT, (200, "application/pdf"): bytes},
)
class ApprovalRecordView(ApprovalView):
    """The approval record: model card, checks with evidence, the history with its hash chain, who decided what."""

    def perform_content_negotiation(self, request, force=False):  # ?format= is ours (json or pdf)
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    def get(self, request, pk: int):
        approval = self.get_object()
        kind = request.query_params.get("format", "json")
        if kind not in ("json", "pdf"):
            raise ValidationError(f"Unknown record format '{kind}'; use json or pdf.", field="format")
        record = selectors.approval_record(request=approval)
        if kind == "json":
            return Response(record)
        version = approval.model_version
        name = f"approval-record-{approval.pk}-{slugify(version.registered_model.name)}-v{version.version}"
        response = HttpResponse(record_render_pdf(record), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
        return response


# ---------------------------------------------------------------------------
# Notifications: the caller's own
# ---------------------------------------------------------------------------
class NotificationView(ScopedAPIView):
    abstract = True
    project_field = UNSCOPED
    serializer_class = s.NotificationSerializer
    queryset = Notification.objects.none()

    def get_queryset(self):
        return selectors.notifications_of(user=self.request.user)


@extend_schema(parameters=[OpenApiParameter("unread", bool, description="Only unread (true) or read (false) ones")])
class NotificationListView(NotificationView, generics.ListAPIView):
    """The caller's notifications, newest first; the answer also says how many are unread."""

    filter_serializer_class = s.NotificationFilter

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        response.data["unread"] = selectors.unread_count(user=request.user)
        return response


class NotificationReadView(NotificationView):
    @extend_schema(request=None, responses=s.NotificationSerializer)
    def post(self, request, pk: int):
        notification = self.get_object()
        notification = notify.notification_mark_read(notification=notification, user=request.user)
        return Response(self.get_serializer(notification).data)


class NotificationReadAllView(NotificationView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request):
        marked = notify.notifications_mark_all_read(user=request.user)
        return Response({"marked": marked, "unread": 0})


class NotificationUnreadCountView(NotificationView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response({"unread": selectors.unread_count(user=request.user)})


# ---------------------------------------------------------------------------
# Per-project settings: webhooks and the approval policy
# ---------------------------------------------------------------------------
class ProjectSettingView(ScopedAPIView):
    abstract = True
    project_field = "project"

    def project(self) -> Project:
        return project_get_visible(user=self.request.user, project_id=self.kwargs["pk"])


class ProjectWebhooksView(ProjectSettingView):
    """GET the project's webhook endpoints with their recent deliveries (owners: URLs may carry credentials).
    POST ``{url, description}`` adds one; the answer holds its signing ``secret``, shown this once."""

    serializer_class = s.WebhookEndpointSerializer
    queryset = WebhookEndpoint.objects.select_related("created_by")

    @extend_schema(responses=s.WebhookEndpointSerializer(many=True))
    def get(self, request, pk: int):
        project = self.project()
        check_project_access(user=request.user, project=project, minimum=ProjectRole.OWNER)
        endpoints = self.get_queryset().filter(project=project)
        page = self.paginate_queryset(endpoints)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=s.WebhookEndpointCreateSerializer, responses={201: s.WebhookEndpointSerializer})
    def post(self, request, pk: int):
        project = self.project()
        check_project_access(user=request.user, project=project, minimum=ProjectRole.OWNER)
        data = validated(s.WebhookEndpointCreateSerializer, request.data)
        endpoint, secret = services.webhook_endpoint_create(project=project, user=request.user, **data)
        body = dict(self.get_serializer(endpoint).data)
        body["secret"] = secret
        return Response(body, status=status.HTTP_201_CREATED)


class ProjectWebhookDetailView(ProjectSettingView):
    """GET one endpoint with its recent deliveries; PATCH ``{is_active, description}`` (re-enable a disabled one);
    DELETE it (owners)."""

    serializer_class = s.WebhookEndpointSerializer
    queryset = WebhookEndpoint.objects.select_related("created_by", "project")
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self) -> WebhookEndpoint:
        project = self.project()
        check_project_access(user=self.request.user, project=project, minimum=ProjectRole.OWNER)
        return generics.get_object_or_404(self.get_queryset().filter(project=project), pk=self.kwargs["webhook_id"])

    @extend_schema(responses=s.WebhookEndpointSerializer)
    def get(self, request, pk: int, webhook_id: int):
        return Response(self.get_serializer(self.get_object(), context={"deliveries": 50}).data)

    @extend_schema(request=s.WebhookEndpointUpdateSerializer, responses=s.WebhookEndpointSerializer)
    def patch(self, request, pk: int, webhook_id: int):
        endpoint = self.get_object()
        data = validated(s.WebhookEndpointUpdateSerializer, request.data)
        endpoint = services.webhook_endpoint_update(endpoint=endpoint, user=request.user, **data)
        return Response(self.get_serializer(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int, webhook_id: int):
        services.webhook_endpoint_delete(endpoint=self.get_object(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApprovalPolicyView(ProjectSettingView):
    """GET the project's approval policy (members); PATCH it (owners). Requests already submitted keep the rules
    they were submitted under."""

    serializer_class = s.ApprovalPolicySerializer
    queryset = ApprovalPolicy.objects.none()  # for the schema; the policy comes from the project
    http_method_names = ["get", "patch", "head", "options"]

    def get(self, request, pk: int):
        policy = selectors.approval_policy_for(project=self.project())
        return Response(self.get_serializer(policy).data)

    @extend_schema(request=s.ApprovalPolicyUpdateSerializer, responses=s.ApprovalPolicySerializer)
    def patch(self, request, pk: int):
        project = self.project()
        check_project_access(user=request.user, project=project, minimum=ProjectRole.OWNER)
        data = validated(s.ApprovalPolicyUpdateSerializer, request.data)
        policy = services.approval_policy_update(project=project, user=request.user, **data)
        return Response(self.get_serializer(policy).data)
