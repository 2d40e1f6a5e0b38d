"""Test settings: PostgreSQL + Redis when DATABASE_URL / CELERY_BROKER_URL name them (CI), else embedded.

`make test` runs the suite in several processes (pytest-xdist: PYTEST_XDIST_WORKER is gw0, gw1, ...). Each keeps
apart from the others: its files (DATA_DIR is var/test/<worker>: media, MLflow's store, the filesystem broker and
results), its test database (pytest-django appends the worker to the name), and in Redis every key of the broker
and the cache (a prefix per worker), so the Celery worker one process starts never takes another's tasks. Processes
a test starts inherit both variables and so land in the same place.
"""

import os
from pathlib import Path

XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")

# Tests keep their files apart from a developer's embedded data (override with DATA_DIR; TEST_DATA_DIR moves the
# folder of the run, whose processes each take a folder in it). The folder is put in the environment for the
# processes tests start, with the worker it was made for: a worker inherits pytest-xdist's controller's, and makes
# its own instead; a DATA_DIR set by anyone else (a test starting a process on a folder of its own) is kept.
_suite_dir = Path(os.environ.get("TEST_DATA_DIR") or Path(__file__).resolve().parent.parent.parent / "var" / "test")
_made_for = os.environ.get("TEST_DATA_DIR_WORKER")
if "DATA_DIR" not in os.environ or (_made_for is not None and _made_for != XDIST_WORKER):
    os.environ["DATA_DIR"] = str(_suite_dir / XDIST_WORKER if XDIST_WORKER else _suite_dir)
    os.environ["TEST_DATA_DIR_WORKER"] = XDIST_WORKER

from .base import *  # noqa: E402, F403
from .base import CACHES, CELERY_BROKER_TRANSPORT_OPTIONS, DATA_DIR, DATABASES, env  # noqa: E402

# Every Redis key of this process' broker (queues, bindings, unacknowledged messages) and cache starts with this.
REDIS_KEY_PREFIX = f"maestro-test-{XDIST_WORKER}:" if XDIST_WORKER else ""
if REDIS_KEY_PREFIX:
    CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": REDIS_KEY_PREFIX}
    CACHES["default"]["KEY_PREFIX"] = REDIS_KEY_PREFIX

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="maestro-test-key-0123456789-abcdefghijklmnopqrstuvwxyz")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A real file for SQLite so that a Celery worker process started by a test sees the same database.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING["root"]["level"] = env.str("LOG_LEVEL", default="WARNING")  # noqa: F405

# Serve static files straight from the app folders, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Webhook tests deliver to local servers on 127.0.0.1 over plain http, and retry quickly.
GOVERNANCE_WEBHOOK_ALLOW_HTTP = True
GOVERNANCE_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
GOVERNANCE_WEBHOOK_TIMEOUT = 5.0
GOVERNANCE_WEBHOOK_BACKOFF_BASE = 0.2
GOVERNANCE_WEBHOOK_BACKOFF_CAP = 1.0

# The prediction log is written when a test drains it (logbook.writer.drain()), not by a thread that would write
# outside the test's transaction; the test of the thread turns it on.
MONITORING_LOG_BACKGROUND = env.bool("MONITORING_LOG_BACKGROUND", default=False)
MONITORING_STATE_TTL = env.float("MONITORING_STATE_TTL", default=0.0)

# Processes the tests start (gunicorn, Celery workers) do not compile shap's code at start: explanations leave that
# once-a-process cost out of their budget, and the suite's CPUs are better spent on tests.
EXPLAIN_WARM_WORKERS = env.bool("EXPLAIN_WARM_WORKERS", default=False)
