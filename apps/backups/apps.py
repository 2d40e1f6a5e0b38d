from django.apps import AppConfig


class BackupsConfig(AppConfig):
    """Verified backups of everything Maestro ML keeps (database, files, MLflow) and their restore; a record of
    each backup feeds the operations metrics."""

    name = "apps.backups"
    label = "backups"
    verbose_name = "Backups"

    def ready(self) -> None:
        from apps.backups import metrics

        metrics.register_metrics()
