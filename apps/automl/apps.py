from django.apps import AppConfig


class AutomlConfig(AppConfig):
    name = "apps.automl"
    label = "automl"
    verbose_name = "AutoML"

    def ready(self) -> None:
        from apps.automl import metrics

        metrics.register_metrics()
