"""Celery application of Maestro ML.

Queues: ``training`` (AutoGluon fits), ``explain`` (SHAP/LIME), ``default`` (everything else).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("maestro")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
