from django.urls import path

from apps.projects.web import views

app_name = "projects"

urlpatterns = [
    path("projects/", views.landing, name="home"),
    path("projects/new", views.project_create_page, name="project-create"),
    path("projects/sample", views.sample_start_page, name="sample-start"),
    path("projects/<int:pk>/", views.project_detail, name="project-detail"),
    path("projects/<int:pk>/edit", views.project_edit_page, name="project-edit"),
    path("projects/<int:pk>/delete", views.project_delete_page, name="project-delete"),
    path("projects/<int:pk>/upload", views.dataset_upload_page, name="dataset-upload"),
    path("projects/<int:pk>/members", views.member_save_page, name="member-save"),
    path("projects/<int:pk>/members/<int:user_id>/remove", views.member_remove_page, name="member-remove"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset-detail"),
    path("datasets/<int:pk>/delete", views.dataset_delete_page, name="dataset-delete"),
]
