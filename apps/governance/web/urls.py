from django.urls import path

from apps.governance.web import views

app_name = "governance"

urlpatterns = [
    path("approvals/", views.approval_queue, name="approval-queue"),
    path("approvals/<int:pk>/", views.approval_detail, name="approval-detail"),
    path("approvals/<int:pk>/<str:action>", views.approval_move, name="approval-move"),
    path("registry/versions/<int:version_id>/submit-approval", views.submit_version, name="submit"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/<int:pk>/read", views.notification_read, name="notification-read"),
    path("notifications/read-all", views.notification_read_all, name="notification-read-all"),
]
