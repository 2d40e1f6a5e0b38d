from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from apps.core import (
            checks,  # noqa: F401 - registers the system checks
            logs,
            metrics,
            tracing,
        )

        logs.configure_structlog()
        logs.connect_celery_signals()
        metrics.register_metrics()
        tracing.configure_tracing()
