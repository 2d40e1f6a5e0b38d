from django.urls import path

from apps.automl.web import views

app_name = "automl"

urlpatterns = [
    path("projects/<int:pk>/automl/", views.project_jobs, name="project-jobs"),
    path("automl/jobs/<int:pk>/", views.job_detail, name="job-detail"),
    path("automl/jobs/<int:pk>/cancel", views.job_cancel, name="job-cancel"),
]
