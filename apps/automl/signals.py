"""Events AutoML sends to the apps above it, which must not be imported from here.

``training_job_succeeded`` is sent (``sender=TrainingJob, job_id=...``) after the transaction that
marked a job succeeded has committed. The registry connects to it to register the best model.
"""

from django.dispatch import Signal

training_job_succeeded = Signal()
