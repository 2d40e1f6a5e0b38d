from django.urls import path

from apps.projects.api import views

urlpatterns = [
    path("projects", views.ProjectListCreateView.as_view(), name="project-list"),
    path("projects/<int:pk>", views.ProjectDetailView.as_view(), name="project-detail"),
    path("projects/<int:pk>/members", views.ProjectMembersView.as_view(), name="project-members"),
    path(
        "projects/<int:pk>/members/<int:user_id>", views.ProjectMemberDetailView.as_view(), name="project-member-detail"
    ),
    path("datasets", views.DatasetListCreateView.as_view(), name="dataset-list"),
    path("datasets/<int:pk>", views.DatasetDetailView.as_view(), name="dataset-detail"),
    path("datasets/<int:pk>/preview", views.DatasetPreviewView.as_view(), name="dataset-preview"),
]
# The same endpoints with a trailing slash (a POST redirected by APPEND_SLASH would lose its body).
urlpatterns += [
    path(f"{pattern.pattern}/", pattern.callback.view_class.as_view(schema=None)) for pattern in list(urlpatterns)
]
