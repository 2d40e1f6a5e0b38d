"""Events AutoML sends to the apps above it, which must not be imported from here.

``training_job_succeeded`` is sent (``sender=TrainingJob, job_id=...``) after the transaction that
marked a job succeeded has committed. The registry connects to it to register the best model.

``training_job_tracked`` is sent (``sender=TrainingJob, job_id=..., run_id=...``) when the MLflow run of a job
that trained while MLflow was unreachable has been logged afterwards; the registry links the job's versions to it.
"""

from django.dispatch import Signal

training_job_succeeded = Signal()
training_job_tracked = Signal()
