import logging

from django.apps import AppConfig

logger = logging.getLogger("maestro.registry")


def register_succeeded_job(sender, job_id: int, **kwargs) -> None:
    """Register the best model of a job that just succeeded; if that fails, a retrying task tries again.

    Runs in the AutoML worker after its transaction committed; it never raises into AutoML.
    """
    from apps.registry.services import model_version_register_from_job
    from apps.registry.tasks import register_model_version_from_job

    try:
        model_version_register_from_job(job_id=job_id)
    except Exception:
        logger.exception("Registering the model of training job %s failed; queued a retry", job_id)
        try:
            register_model_version_from_job.delay(job_id)
        except Exception:
            logger.exception("Could not queue the registration of training job %s", job_id)


def link_tracked_job(sender, job_id: int, run_id: str, **kwargs) -> None:
    """A job's MLflow run was logged after it trained (MLflow was down): its versions point at the run, and
    the ones not in MLflow's registry yet are registered there with it."""
    from apps.registry.models import ModelVersion

    ModelVersion.objects.filter(job_id=job_id, mlflow_run_id="").update(mlflow_run_id=run_id)


class RegistryConfig(AppConfig):
    name = "apps.registry"
    label = "registry"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from apps.automl.signals import training_job_succeeded, training_job_tracked

        training_job_succeeded.connect(register_succeeded_job, dispatch_uid="registry.register_succeeded_job")
        training_job_tracked.connect(link_tracked_job, dispatch_uid="registry.link_tracked_job")

        from apps.registry import metrics

        metrics.register_metrics()
