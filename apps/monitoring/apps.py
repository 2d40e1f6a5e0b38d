import logging

from django.apps import AppConfig

logger = logging.getLogger("maestro.monitoring")


def queue_reference_profile(sender, version_id: int, **kwargs) -> None:
    """A new version's reference profile is made by a worker (it predicts the held-out split)."""
    from apps.monitoring.tasks import build_reference_profile

    try:
        build_reference_profile.delay(version_id)
    except Exception:
        logger.exception("Could not queue the reference profile of model version %s", version_id)


class MonitoringConfig(AppConfig):
    """Model monitoring: the prediction log of production versions, reference profiles, drift reports and
    feedback. It listens to the registry (a typed hook and its signals); the registry knows nothing of it."""

    name = "apps.monitoring"
    label = "monitoring"
    verbose_name = "Model monitoring"

    def ready(self) -> None:
        from apps.monitoring import logbook, metrics
        from apps.registry import hooks
        from apps.registry.signals import model_version_registered

        hooks.register_prediction_listener(
            hooks.PredictionListener(online=logbook.online_predictions, batch=logbook.batch_predictions)
        )
        model_version_registered.connect(queue_reference_profile, dispatch_uid="monitoring.reference_profile")
        metrics.register_metrics()
