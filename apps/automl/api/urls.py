from django.urls import path

from apps.automl.api import views

urlpatterns = [
    path("automl/jobs", views.TrainingJobListCreateView.as_view(), name="automl-job-list"),
    path("automl/jobs/<int:pk>", views.TrainingJobDetailView.as_view(), name="automl-job-detail"),
    path("automl/jobs/<int:pk>/results", views.TrainingJobResultsView.as_view(), name="automl-job-results"),
    path("automl/jobs/<int:pk>/cancel", views.TrainingJobCancelView.as_view(), name="automl-job-cancel"),
    # The same endpoints with a trailing slash, for clients that add one (left out of the schema).
    path("automl/jobs/", views.TrainingJobListCreateView.as_view(schema=None)),
    path("automl/jobs/<int:pk>/", views.TrainingJobDetailView.as_view(schema=None)),
    path("automl/jobs/<int:pk>/results/", views.TrainingJobResultsView.as_view(schema=None)),
    path("automl/jobs/<int:pk>/cancel/", views.TrainingJobCancelView.as_view(schema=None)),
]
