from django.urls import path

from apps.registry.api import views

urlpatterns = [
    path("registered-models", views.RegisteredModelListView.as_view(), name="registered-model-list"),
    path("registered-models/<int:pk>", views.RegisteredModelDetailView.as_view(), name="registered-model-detail"),
    path(
        "registered-models/<int:pk>/predict",
        views.RegisteredModelPredictView.as_view(),
        name="registered-model-predict",
    ),
    path(
        "registered-models/<int:pk>/deploy", views.RegisteredModelDeployView.as_view(), name="registered-model-deploy"
    ),
    path(
        "registered-models/<int:pk>/rollback",
        views.RegisteredModelRollbackView.as_view(),
        name="registered-model-rollback",
    ),
    path(
        "registered-models/<int:pk>/deployments",
        views.RegisteredModelDeploymentsView.as_view(),
        name="registered-model-deployments",
    ),
    path("models", views.ModelVersionListView.as_view(), name="model-version-list"),
    path("models/<int:pk>", views.ModelVersionDetailView.as_view(), name="model-version-detail"),
    path("models/<int:pk>/lineage", views.ModelVersionLineageView.as_view(), name="model-version-lineage"),
    path("models/<int:pk>/card", views.ModelVersionCardView.as_view(), name="model-version-card"),
    path("models/<int:pk>/predict", views.ModelVersionPredictView.as_view(), name="model-version-predict"),
    path("models/<int:pk>/deploy", views.ModelVersionDeployView.as_view(), name="model-version-deploy"),
    path(
        "models/<int:pk>/batch-predictions",
        views.ModelVersionBatchPredictionsView.as_view(),
        name="model-version-batch-predictions",
    ),
    path("batch-predictions/<int:pk>", views.BatchPredictionDetailView.as_view(), name="batch-prediction-detail"),
    path(
        "batch-predictions/<int:pk>/download",
        views.BatchPredictionDownloadView.as_view(),
        name="batch-prediction-download",
    ),
    path("automl/jobs/<int:pk>/deploy", views.TrainingJobDeployView.as_view(), name="training-job-deploy"),
]

# The same endpoints with a trailing slash, for clients that add one (kept out of the schema).
urlpatterns += [
    path(f"{pattern.pattern}/", pattern.callback.view_class.as_view(schema=None)) for pattern in list(urlpatterns)
]
