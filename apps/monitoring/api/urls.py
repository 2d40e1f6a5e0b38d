from django.urls import path

from apps.monitoring.api import views

urlpatterns = [
    path(
        "registered-models/<int:pk>/predictions", views.PredictionLogView.as_view(), name="registered-model-predictions"
    ),
    path("registered-models/<int:pk>/feedback", views.FeedbackView.as_view(), name="registered-model-feedback"),
    path("registered-models/<int:pk>/drift", views.RegisteredModelDriftView.as_view(), name="registered-model-drift"),
    path("drift/<int:pk>", views.DriftReportDetailView.as_view(), name="drift-report-detail"),
]

# The same endpoints with a trailing slash, for clients that add one (kept out of the schema).
urlpatterns += [
    path(f"{pattern.pattern}/", pattern.callback.view_class.as_view(schema=None)) for pattern in list(urlpatterns)
]
