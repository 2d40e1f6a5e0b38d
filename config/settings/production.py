"""Production: PostgreSQL, Redis, S3, an MLflow server; TLS in front. No secret has a default."""

import os
import sys

from apps.core.secret_checks import secret_key_problem

from .base import *  # noqa: F403
from .base import CELERY_BEAT_SCHEDULE, DATABASES, cache_config, env, storage_config

DEBUG = False


def refuse_to_start(problem: str, advice: str) -> None:
    """One clear line (and advice), exit code 78 (EX_CONFIG), no traceback."""
    sys.stderr.write(f"Maestro ML refuses to start: {problem}.\n{advice}\n")
    raise SystemExit(78)


# ---------------------------------------------------------------------------
# Secrets: refuse to start with a missing, short or placeholder key
# ---------------------------------------------------------------------------
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
_problem = secret_key_problem(SECRET_KEY)
if _problem:
    refuse_to_start(_problem, "Generate one with `python manage.py generate_secrets` or scripts/generate-secrets.sh.")

# Production never falls back to the embedded SQLite database, filesystem broker or local MLflow store.
_missing = [name for name in ("DATABASE_URL", "CELERY_BROKER_URL", "MLFLOW_TRACKING_URI") if not os.environ.get(name)]
if _missing:
    refuse_to_start(
        f"{', '.join(_missing)} {'is' if len(_missing) == 1 else 'are'} not set",
        "Production needs PostgreSQL, Redis and an MLflow server; see .env.example.",
    )

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

# ---------------------------------------------------------------------------
# Services: every one is named explicitly
# ---------------------------------------------------------------------------
DATABASES["default"]["CONN_MAX_AGE"] = 0
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN", default=2),
        "max_size": env.int("DB_POOL_MAX", default=10),
    }
CACHES = {"default": cache_config(env.str("CACHE_URL"))}
# Rate limits must be counted in a cache every web process shares (a system-check error otherwise).
RATELIMIT_REQUIRE_SHARED_CACHE = True
SECRETS_DEPLOYMENT = True
STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="s3")
STORAGES = {
    "default": storage_config(STORAGE_BACKEND),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# ---------------------------------------------------------------------------
# Backups: run by the compose backup service or the Kubernetes CronJob, which hold the credentials they need;
# celery-beat runs them too only when BACKUP_SCHEDULE is set (base.py)
# ---------------------------------------------------------------------------
if env.str("BACKUP_SCHEDULE", default="") in ("", "off"):
    CELERY_BEAT_SCHEDULE.pop("backups-daily", None)

# ---------------------------------------------------------------------------
# Metrics: never public (a bearer token, or the internal network without a proxy in between)
# ---------------------------------------------------------------------------
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", default=False)

# ---------------------------------------------------------------------------
# Accounts: self-service sign-up only when the operator opens it
# ---------------------------------------------------------------------------
ACCOUNTS_OPEN_REGISTRATION = env.bool("ACCOUNTS_OPEN_REGISTRATION", default=False)

# ---------------------------------------------------------------------------
# Transport security
# ---------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health", r"^metrics"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False

# Webhooks go out over https only in production, whatever the environment says.
GOVERNANCE_WEBHOOK_ALLOW_HTTP = False
