from django.urls import path

from apps.registry.web import views

app_name = "registry"

urlpatterns = [
    path("projects/<int:pk>/models/", views.project_models, name="project-models"),
    path("registry/models/<int:pk>/", views.registered_model_detail, name="registered-model-detail"),
    path("registry/models/<int:pk>/rollback", views.registered_model_rollback_page, name="registered-model-rollback"),
    path("registry/versions/<int:pk>/", views.model_version_detail, name="model-version-detail"),
    path("registry/versions/<int:pk>/deploy", views.model_version_deploy_page, name="model-version-deploy"),
    path("registry/versions/<int:pk>/card", views.model_version_card_edit_page, name="model-version-card-edit"),
    path(
        "registry/versions/<int:pk>/evaluation/<slug:name>.svg",
        views.model_version_evaluation_plot,
        name="model-version-evaluation-plot",
    ),
    path("registry/versions/<int:pk>/batch", views.model_version_batch_page, name="model-version-batch"),
]
