from django.urls import path

from apps.explain.api import views

urlpatterns = [
    path("explain", views.ExplanationListView.as_view(), name="explanation-list"),
    path("explain/shap", views.ExplainShapView.as_view(), name="explain-shap"),
    path("explain/lime", views.ExplainLimeView.as_view(), name="explain-lime"),
    path("explain/<int:pk>", views.ExplanationDetailView.as_view(), name="explanation-detail"),
    path("explain/<int:pk>/plots/<slug:name>", views.ExplanationPlotView.as_view(), name="explanation-plot"),
    path("explain/global/<int:model_id>", views.GlobalExplanationView.as_view(), name="explanation-global"),
    path(
        "explain/local/<int:model_id>/<int:instance_id>",
        views.LocalExplanationView.as_view(),
        name="explanation-local",
    ),
]
# The same endpoints with a trailing slash (a POST redirected by APPEND_SLASH would lose its body).
urlpatterns += [
    path(f"{pattern.pattern}/", pattern.callback.view_class.as_view(schema=None)) for pattern in list(urlpatterns)
]
