from django.apps import AppConfig


class ExplainConfig(AppConfig):
    name = "apps.explain"
    label = "explain"
    verbose_name = "Explanations"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from apps.explain import services
        from apps.explain.models import Explanation
        from apps.registry import hooks, signals

        hooks.register_feature_importance_provider(services.global_importances_for)
        signals.model_version_registered.connect(_explain_registered_version, dispatch_uid="explain.on_registration")
        post_delete.connect(_remove_plot_files, sender=Explanation, dispatch_uid="explain.remove_plot_files")


def _explain_registered_version(sender, version_id: int, **kwargs) -> None:
    """A new version gets its global explanation in the background (the card shows it once it lands)."""
    from django.conf import settings

    from apps.explain.tasks import explain_new_version

    if not settings.EXPLAIN_ON_REGISTRATION:
        return
    try:
        explain_new_version.delay(version_id)
    except Exception:  # the broker is down: registration stands; the explanation can be asked for later
        import logging

        logging.getLogger("maestro.explain").warning(
            "Could not queue the global explanation of version %s", version_id, exc_info=True
        )


def _remove_plot_files(sender, instance, **kwargs) -> None:
    from apps.explain.services import explanation_files_delete

    explanation_files_delete(explanation=instance)
