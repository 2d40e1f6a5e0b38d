"""Test settings: PostgreSQL + Redis when DATABASE_URL / CELERY_BROKER_URL name them (CI), else embedded."""

import os
from pathlib import Path

# Tests keep their files apart from a developer's embedded data (override with DATA_DIR).
os.environ.setdefault("DATA_DIR", str(Path(__file__).resolve().parent.parent.parent / "var" / "test"))

from .base import *  # noqa: E402, F403
from .base import DATA_DIR, DATABASES, env  # noqa: E402

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
