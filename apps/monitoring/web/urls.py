from django.urls import path

from apps.monitoring.web import views

app_name = "monitoring"

urlpatterns = [
    path("monitoring/models/<int:pk>/", views.monitoring_page, name="model-monitoring"),
    path("monitoring/models/<int:pk>/report", views.drift_report_page, name="model-drift-report"),
]
