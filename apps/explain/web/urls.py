from django.urls import path

from apps.explain.web import views

app_name = "explain"

urlpatterns = [
    path("registry/versions/<int:pk>/explain", views.explain_version, name="explain-version"),
]
