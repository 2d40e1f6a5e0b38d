from django.urls import path

from apps.dashboard.web import views

app_name = "dashboard"

urlpatterns = [
    path("", views.dashboard, name="home"),
]
