from django.apps import AppConfig


class AutomlConfig(AppConfig):
    name = "apps.automl"
    label = "automl"
    verbose_name = "AutoML"
