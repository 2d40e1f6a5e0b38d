from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.accounts.web.views import admin_login
from apps.core import metrics as core_metrics
from apps.core import views as core_views
from apps.dashboard.operations import install as install_admin_operations

# The admin's titles and its index's operations summary (jobs, failures, queues, models, approvals, audit).
install_admin_operations(admin.site)

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's init script from a URL: the strict CSP allows no inline script.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-v1:schema", template_name="core/swagger_ui.html"),
        name="docs",
    ),
    path("", include("apps.accounts.api.urls")),
    path("", include("apps.projects.api.urls")),
    path("", include("apps.automl.api.urls")),
    path("", include("apps.registry.api.urls")),
    path("", include("apps.explain.api.urls")),
    path("", include("apps.governance.api.urls")),
    path("", include("apps.monitoring.api.urls")),
]

# Unknown paths under /api/ answer the API's JSON error shape; pages get the HTML page.
handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_error"

urlpatterns = [
    path("health", core_views.health_live, name="health"),
    path("health/live", core_views.health_live, name="health-live"),
    path("health/ready", core_views.health_ready, name="health-ready"),
    path("health/deep", core_views.health_deep, name="health-deep"),
    path("metrics", core_metrics.metrics_view, name="prometheus-django-metrics"),
    # The admin's sign-in with the rate limits and audit of every other sign-in (before the admin's URLs).
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api-v1"))),
    path("", include("apps.dashboard.web.urls")),
    path("", include("apps.accounts.web.urls")),
    path("", include("apps.projects.web.urls")),
    path("", include("apps.automl.web.urls")),
    path("", include("apps.registry.web.urls")),
    path("", include("apps.explain.web.urls")),
    path("", include("apps.governance.web.urls")),
    path("", include("apps.monitoring.web.urls")),
]
