"""Celery routes by task name: every task must be named after its module, or it lands on the wrong queue."""

from fnmatch import fnmatch

from django.conf import settings

from config.celery import app


def project_tasks() -> dict[str, object]:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_task_is_named_after_its_module():
    tasks = project_tasks()
    assert tasks, "no project task registered"
    for name, task in tasks.items():
        assert name == f"{task.run.__module__}.{task.run.__name__}", name
        assert name.startswith("apps."), name


def test_training_and_explanation_tasks_route_to_their_queues_and_the_rest_to_default():
    queues = {}
    for name in project_tasks():
        queue = next(
            (route["queue"] for glob, route in settings.CELERY_TASK_ROUTES.items() if fnmatch(name, glob)), "default"
        )
        queues[name] = queue
    assert queues["apps.automl.tasks.run_training_job"] == "training"
    assert queues["apps.registry.tasks.run_batch_prediction"] == "default"
    # Logging a job's MLflow run after an outage is short I/O: it must not wait behind fits.
    assert queues["apps.automl.tasks.sync_training_job_to_mlflow"] == "default"
    assert all(
        queue == "training"
        for name, queue in queues.items()
        if name.startswith("apps.automl.") and name != "apps.automl.tasks.sync_training_job_to_mlflow"
    )
    from config.celery import app

    assert app.amqp.router.route({}, "apps.automl.tasks.sync_training_job_to_mlflow")["queue"].name == "default"
    assert app.amqp.router.route({}, "apps.automl.tasks.run_training_job")["queue"].name == "training"


def test_beat_entries_name_registered_tasks():
    tasks = project_tasks()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in tasks, entry
