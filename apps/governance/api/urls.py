from django.urls import path

from apps.governance.api import views

urlpatterns = [
    path("models/<int:pk>/submit-approval", views.SubmitApprovalView.as_view(), name="model-version-submit-approval"),
    path("approvals", views.ApprovalListView.as_view(), name="approval-list"),
    path("approvals/<int:pk>", views.ApprovalDetailView.as_view(), name="approval-detail"),
    path("approvals/<int:pk>/start-review", views.StartReviewView.as_view(), name="approval-start-review"),
    path("approvals/<int:pk>/start-testing", views.StartTestingView.as_view(), name="approval-start-testing"),
    path("approvals/<int:pk>/approve", views.ApproveView.as_view(), name="approval-approve"),
    path("approvals/<int:pk>/reject", views.RejectView.as_view(), name="approval-reject"),
    path("approvals/<int:pk>/deploy", views.DeployView.as_view(), name="approval-deploy"),
    path("approvals/<int:pk>/run-checks", views.RunChecksView.as_view(), name="approval-run-checks"),
    path("approvals/<int:pk>/record", views.ApprovalRecordView.as_view(), name="approval-record"),
    path("notifications", views.NotificationListView.as_view(), name="notification-list"),
    path("notifications/unread-count", views.NotificationUnreadCountView.as_view(), name="notification-unread-count"),
    path("notifications/read-all", views.NotificationReadAllView.as_view(), name="notification-read-all"),
    path("notifications/<int:pk>/read", views.NotificationReadView.as_view(), name="notification-read"),
    path("projects/<int:pk>/webhooks", views.ProjectWebhooksView.as_view(), name="project-webhooks"),
    path(
        "projects/<int:pk>/webhooks/<int:webhook_id>",
        views.ProjectWebhookDetailView.as_view(),
        name="project-webhook-detail",
    ),
    path("projects/<int:pk>/approval-policy", views.ApprovalPolicyView.as_view(), name="project-approval-policy"),
]
# The same endpoints with a trailing slash, for clients that add one (kept out of the schema).
urlpatterns += [
    path(f"{pattern.pattern}/", pattern.callback.view_class.as_view(schema=None)) for pattern in list(urlpatterns)
]
