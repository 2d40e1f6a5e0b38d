from django.apps import AppConfig


class ExplainConfig(AppConfig):
    name = "apps.explain"
    label = "explain"
    verbose_name = "Explanations"

    def ready(self) -> None:
        from celery.signals import worker_process_init
        from django.db.models.signals import post_delete

        from apps.explain import selectors, services
        from apps.explain.models import Explanation
        from apps.registry import hooks, signals

        hooks.register_feature_importance_provider(services.global_importances_for)
        hooks.register_explanation_state_provider(selectors.global_explanation_states_for)
        worker_process_init.connect(_warm_explanations, dispatch_uid="explain.warm_worker", weak=False)
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


def _warm_explanations(**kwargs) -> None:
    """A worker process compiles shap's code in the background as it starts, so that a first explanation does not
    spend ten seconds of its budget on it."""
    from django.conf import settings

    if settings.EXPLAIN_WARM_WORKERS:
        from apps.explain.engine.warm import warm_in_background

        warm_in_background()


def _remove_plot_files(sender, instance, **kwargs) -> None:
    from apps.explain.services import explanation_files_delete

    explanation_files_delete(explanation=instance)
