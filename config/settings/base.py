"""Settings shared by every way Maestro ML runs.

Everything that differs between the embedded default and production comes from environment
variables (documented in ``.env.example``). With no variable set, Maestro ML runs embedded:
SQLite, a filesystem Celery broker, local files and a local MLflow store, all under ``DATA_DIR``.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# ---------------------------------------------------------------------------
# Core
# ---------------------------------------------------------------------------
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"

INSTALLED_APPS = [
    "django_prometheus",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_celery_beat",
    "corsheaders",
    "csp",
    "apps.core",
    "apps.accounts",
    "apps.projects",
    "apps.automl",
    "apps.registry",
    "apps.explain",
    "apps.governance",
    "apps.backups",
    "apps.monitoring",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "apps.core.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "apps.core.middleware.AuditDeniedMiddleware",
    "apps.core.middleware.DependencyUnavailableMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'maestro.sqlite3'}")


def database_config(url: str) -> dict:
    """Parse a database URL and route it through django-prometheus' instrumented backends."""
    config = environ.Env.db_url_config(url)
    engine = config["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        config["ENGINE"] = "django_prometheus.db.backends.sqlite3"
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    elif engine == "django.db.backends.postgresql":
        config["ENGINE"] = "django_prometheus.db.backends.postgresql"
        config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASES = {"default": database_config(DATABASE_URL)}

# ---------------------------------------------------------------------------
# Cache (rate limits and lock-outs are counted here: Redis in production)
# ---------------------------------------------------------------------------
PROMETHEUS_CACHE_BACKENDS = {
    "django_redis.cache.RedisCache": "django_prometheus.cache.backends.redis.RedisCache",
    "django.core.cache.backends.redis.RedisCache": "django_prometheus.cache.backends.redis.RedisCache",
    "django.core.cache.backends.locmem.LocMemCache": "django_prometheus.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.filebased.FileBasedCache": "django_prometheus.cache.backends.filebased.FileBasedCache",
}


def cache_config(url: str) -> dict:
    """Parse a cache URL and route it through django-prometheus' instrumented backends."""
    config = environ.Env.cache_url_config(url)
    config["BACKEND"] = PROMETHEUS_CACHE_BACKENDS.get(config["BACKEND"], config["BACKEND"])
    return config


CACHES = {"default": cache_config(env.str("CACHE_URL", default="locmemcache://maestro"))}

# ---------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
ANONYMOUS_USER_NAME = None  # django-guardian: no anonymous user row

# ---------------------------------------------------------------------------
# Static files and storage
# ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Files WhiteNoise serves at the site's root: /favicon.ico, which browsers ask for on pages naming no icon (the admin).
WHITENOISE_ROOT = BASE_DIR / "static" / "root"

STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="local")
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="")
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="")
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="maestro")
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="us-east-1")


def storage_config(backend: str) -> dict:
    """The ``default`` storage: local files under MEDIA_ROOT, or S3/MinIO through django-storages."""
    if backend == "s3":
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "access_key": AWS_ACCESS_KEY_ID,
                "secret_key": AWS_SECRET_ACCESS_KEY,
                "bucket_name": AWS_STORAGE_BUCKET_NAME,
                "endpoint_url": AWS_S3_ENDPOINT_URL,
                "region_name": AWS_S3_REGION_NAME,
                "default_acl": None,
                "file_overwrite": False,
                "querystring_auth": True,
            },
        }
    if backend == "local":
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
        }
    raise ValueError(f"STORAGE_BACKEND must be 'local' or 's3', not {backend!r}")


STORAGES = {
    "default": storage_config(STORAGE_BACKEND),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# ---------------------------------------------------------------------------
# Django REST Framework and OpenAPI
# ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.DefaultPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "apps.core.api.renderers.ORJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # JSON and form bodies are read at most up to a byte limit (413 past it): apps.core.api.parsers.
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.api.parsers.BoundedJSONParser",
        "apps.core.api.parsers.BoundedFormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["apps.core.ratelimit.ApiRateThrottle"],
}

# Largest JSON (or form) body an API endpoint reads, in bytes: ordinary endpoints and sign-in, and the
# prediction and explanation endpoints (their bodies carry rows). Larger bodies answer 413 unread.
API_JSON_MAX_BYTES = env.int("API_JSON_MAX_BYTES", default=1024 * 1024)
API_JSON_MAX_BYTES_PREDICT = env.int("API_JSON_MAX_BYTES_PREDICT", default=10 * 1024 * 1024)
# Deepest nesting of lists/objects a JSON body may have (a prediction row is 3 levels deep).
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=64)
# A body refused unread (413) is read and discarded after the answer, up to this many bytes and seconds, so the
# client sees the answer rather than a reset connection (apps.core.wsgi); beyond, the connection is closed.
REQUEST_DRAIN_MAX_BYTES = env.int("REQUEST_DRAIN_MAX_BYTES", default=64 * 1024 * 1024)
REQUEST_DRAIN_SECONDS = env.float("REQUEST_DRAIN_SECONDS", default=30.0)

SPECTACULAR_SETTINGS = {
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "TITLE": "Maestro ML API",
    "DESCRIPTION": "Projects, datasets, AutoML, model registry and prediction serving.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_REFRESH_MINUTES", default=24 * 60)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
}
# The longest a signed-in API session lasts, however often its refresh token is rotated: counted from the
# sign-in (carried in the tokens), then the person signs in again (apps.accounts.tokens). Default: 7 days.
JWT_SESSION_LIFETIME = timedelta(minutes=env.int("JWT_SESSION_MAX_MINUTES", default=7 * 24 * 60))

# ---------------------------------------------------------------------------
# CORS (closed unless origins are named)
# ---------------------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"

# ---------------------------------------------------------------------------
# Security headers
# ---------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# ---------------------------------------------------------------------------
# Celery
# ---------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=f"file://{DATA_DIR / 'celery' / 'results'}")
BROKER_DIR = DATA_DIR / "celery" / "broker"

# The longest a training job may run; the broker must not redeliver a task before this.
AUTOML_MAX_TIME_BUDGET = env.int("AUTOML_MAX_TIME_BUDGET", default=3600)
CELERY_TASK_HARD_TIME_LIMIT = AUTOML_MAX_TIME_BUDGET * 2 + 600


def broker_transport_options(url: str) -> dict:
    if url.startswith("filesystem://"):
        return {
            "data_folder_in": str(BROKER_DIR / "out"),
            "data_folder_out": str(BROKER_DIR / "out"),
            "processed_folder": str(BROKER_DIR / "processed"),
            "control_folder": str(BROKER_DIR / "control"),  # the exchange bindings (kombu's default: ./control)
            "store_processed": False,
            "polling_interval": 0.2,
        }
    return {"visibility_timeout": CELERY_TASK_HARD_TIME_LIMIT + 600}


CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL)
if CELERY_BROKER_URL.startswith("filesystem://"):  # kombu's filesystem transport needs its folders
    for _folder in ("data_folder_in", "processed_folder", "control_folder"):
        Path(CELERY_BROKER_TRANSPORT_OPTIONS[_folder]).mkdir(parents=True, exist_ok=True)
if CELERY_RESULT_BACKEND.startswith("file://"):  # so does Celery's filesystem result backend
    Path(CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
CELERY_RESULT_EXTENDED = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 600
CELERY_TASK_TIME_LIMIT = 900
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (
    Queue("default", Exchange("default"), routing_key="default"),
    Queue("training", Exchange("training"), routing_key="training"),
    Queue("explain", Exchange("explain"), routing_key="explain"),
)
CELERY_TASK_ROUTES = {
    "apps.automl.tasks.*": {"queue": "training"},
    "apps.explain.tasks.*": {"queue": "explain"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Task events feed the Celery exporter behind the Grafana dashboard (queue and state per task).
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE: dict = {}

# ---------------------------------------------------------------------------
# MLflow
# ---------------------------------------------------------------------------
MLFLOW_TRACKING_URI = env.str("MLFLOW_TRACKING_URI", default=f"sqlite:///{DATA_DIR / 'mlflow.db'}")
MLFLOW_ARTIFACT_ROOT = env.str("MLFLOW_ARTIFACT_ROOT", default=str(DATA_DIR / "mlartifacts"))
MLFLOW_EXPERIMENT_PREFIX = env.str("MLFLOW_EXPERIMENT_PREFIX", default="maestro")

# ---------------------------------------------------------------------------
# Health checks
# ---------------------------------------------------------------------------
# Seconds each dependency check may take before it counts as down (readiness and the deep check).
HEALTH_CHECK_TIMEOUT = env.float("HEALTH_CHECK_TIMEOUT", default=2.0)
# GET /health/deep (every dependency, latencies, errors) answers administrators' sessions and callers sending
# "Authorization: Bearer <HEALTH_CHECK_TOKEN>" (monitoring); everyone else gets 404. Empty: sessions only.
HEALTH_CHECK_TOKEN = env.str("HEALTH_CHECK_TOKEN", default="")

# ---------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# "json": one JSON object per line (production; what a log collector reads), "console": readable lines
# (the embedded default of `make run`, config.settings.local). Both carry the request id, user and project
# of each line and mask secrets (apps.core.logs).
LOG_FORMAT = env.str("LOG_FORMAT", default="json")


def logging_config(log_format: str, level: str) -> dict:
    from apps.core.logs import formatter

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": formatter(log_format)},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "mlflow": {"level": "WARNING"},
            "alembic": {"level": "WARNING"},
        },
    }


LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL)

# ---------------------------------------------------------------------------
# Metrics and tracing
# ---------------------------------------------------------------------------
# GET /metrics (apps.core.metrics): with METRICS_TOKEN set, only callers sending "Authorization: Bearer <token>";
# else everyone while METRICS_PUBLIC is on (the embedded default), and with it off (production) only direct
# callers from METRICS_ALLOWED_NETWORKS that came through no proxy (Prometheus on the internal network).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", default=True)
METRICS_ALLOWED_NETWORKS = env.list(
    "METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
)
# OpenTelemetry tracing (apps.core.tracing), off by default. Exporter: otlp (OTEL_EXPORTER_OTLP_ENDPOINT and the
# other standard OTEL_* variables), console or memory.
OTEL_ENABLED = env.bool("OTEL_ENABLED", default=False)
OTEL_TRACES_EXPORTER = env.str("OTEL_TRACES_EXPORTER", default="otlp")
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", default="maestro-ml")

# ---------------------------------------------------------------------------
# Resilience: circuit breakers and retries (apps.core.resilience)
# ---------------------------------------------------------------------------
# Consecutive transient failures after which a dependency's breaker opens (MLflow, email), and seconds it stays
# open before one call may try again. The state is shared through the default cache.
BREAKER_FAIL_MAX = env.int("BREAKER_FAIL_MAX", default=5)
BREAKER_RESET_TIMEOUT = env.float("BREAKER_RESET_TIMEOUT", default=30.0)
# In-process retries of storage writes: attempts, and the exponential backoff's base and ceiling (seconds).
RETRY_ATTEMPTS = env.int("RETRY_ATTEMPTS", default=3)
RETRY_BACKOFF_BASE = env.float("RETRY_BACKOFF_BASE", default=0.5)
RETRY_BACKOFF_MAX = env.float("RETRY_BACKOFF_MAX", default=10.0)
# MLflow's own HTTP retries: few and short, so an unreachable server fails fast into the breaker and the work is
# retried later in the background instead of holding a worker for minutes.
MLFLOW_HTTP_REQUEST_MAX_RETRIES = env.int("MLFLOW_HTTP_REQUEST_MAX_RETRIES", default=2)
MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR = env.int("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", default=1)
MLFLOW_HTTP_REQUEST_TIMEOUT = env.int("MLFLOW_HTTP_REQUEST_TIMEOUT", default=30)
for _name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
    os.environ.setdefault(_name, str(globals()[_name]))  # MLflow's client reads them from the environment
# A job whose MLflow run could not be logged (MLflow down) still succeeds; its run is logged by a retried task
# (first retry after this many seconds, doubling up to the maximum) and, after that, by the periodic sweep.
AUTOML_MLFLOW_SYNC_RETRY_BACKOFF = env.int("AUTOML_MLFLOW_SYNC_RETRY_BACKOFF", default=30)
AUTOML_MLFLOW_SYNC_RETRY_BACKOFF_MAX = env.int("AUTOML_MLFLOW_SYNC_RETRY_BACKOFF_MAX", default=900)
AUTOML_MLFLOW_SYNC_MAX_RETRIES = env.int("AUTOML_MLFLOW_SYNC_MAX_RETRIES", default=12)
CELERY_BEAT_SCHEDULE["automl-mlflow-sync-sweep"] = {
    "task": "apps.automl.tasks.sweep_training_job_mlflow_sync",
    "schedule": env.float("AUTOML_MLFLOW_SWEEP_INTERVAL", default=300.0),
    "options": {"queue": "default"},
}
CELERY_TASK_ROUTES = {"apps.automl.tasks.sync_training_job_to_mlflow": {"queue": "default"}, **CELERY_TASK_ROUTES}

# ---------------------------------------------------------------------------
# Projects and datasets
# ---------------------------------------------------------------------------
# Largest dataset upload accepted, in bytes (default 200 MiB); larger uploads answer 413.
DATASET_MAX_UPLOAD_BYTES = env.int("DATASET_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024)
# Most columns a dataset may have; wider files answer 400.
DATASET_MAX_COLUMNS = env.int("DATASET_MAX_COLUMNS", default=1000)
# Most rows a dataset may have (CSV and Parquet; Parquet is checked from its metadata before it is read).
DATASET_MAX_ROWS = env.int("DATASET_MAX_ROWS", default=10_000_000)
# Most memory a dataset's table may take once read (default 512 MiB, about what the largest CSV upload
# takes parsed): a Parquet file's uncompressed size and fixed-width size are checked before it is read,
# its decoded size while it is read, so a small compressed file cannot stand for a huge table.
DATASET_MAX_TABLE_BYTES = env.int("DATASET_MAX_TABLE_BYTES", default=512 * 1024 * 1024)
# Longest CSV header line, in bytes; checked before the header is split into column names.
DATASET_MAX_HEADER_BYTES = env.int("DATASET_MAX_HEADER_BYTES", default=256 * 1024)
# Rows GET datasets/{id}/preview returns by default and at most.
DATASET_PREVIEW_DEFAULT_ROWS = env.int("DATASET_PREVIEW_DEFAULT_ROWS", default=20)
DATASET_PREVIEW_MAX_ROWS = env.int("DATASET_PREVIEW_MAX_ROWS", default=500)
# Uploaded files larger than this go to a temporary file on disk, never whole into memory; other
# (non-file) form fields of a request may not exceed DATA_UPLOAD_MAX_MEMORY_SIZE together.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# Folder of those temporary files (default: the system's). Dataset uploads always stream there.
FILE_UPLOAD_TEMP_DIR = env.str("FILE_UPLOAD_TEMP_DIR", default="") or None

# ---------------------------------------------------------------------------
# AutoML
# ---------------------------------------------------------------------------
# Time budget bounds (seconds) a job may ask for; AUTOML_MAX_TIME_BUDGET is set with Celery above.
AUTOML_MIN_TIME_BUDGET = env.int("AUTOML_MIN_TIME_BUDGET", default=10)
AUTOML_DEFAULT_PRESETS = env.str("AUTOML_DEFAULT_PRESETS", default="medium_quality")
AUTOML_ALLOWED_PRESETS = env.list(
    "AUTOML_ALLOWED_PRESETS",
    default=["medium_quality", "good_quality", "high_quality", "best_quality", "optimize_for_deployment"],
)
# CPUs one AutoGluon fit may use ("auto" = all of the host's), so N jobs can share a worker host predictably.
AUTOML_NUM_CPUS = env.str("AUTOML_NUM_CPUS", default="auto")
# Model families and their settings AutoGluon may fit (JSON, e.g. {"GBM": {}}); empty = the presets' choice.
# Read when a job is created and recorded on it, so the worker trains exactly what was asked.
AUTOML_HYPERPARAMETERS = env.json("AUTOML_HYPERPARAMETERS", default={})
# Model families never fitted. Maestro ML installs AutoGluon's tabular models without PyTorch, so the
# neural networks (NN_TORCH, FASTAI) could only fail to import; skipping them saves the attempt.
AUTOML_EXCLUDED_MODEL_TYPES = env.list("AUTOML_EXCLUDED_MODEL_TYPES", default=["NN_TORCH", "FASTAI"])
AUTOML_TEST_SIZE = env.float("AUTOML_TEST_SIZE", default=0.2)
AUTOML_RANDOM_SEED = env.int("AUTOML_RANDOM_SEED", default=0)
AUTOML_MIN_ROWS = env.int("AUTOML_MIN_ROWS", default=20)
# Per-job AutoGluon folders live here and are removed when the job ends.
AUTOML_WORK_DIR = Path(env.str("AUTOML_WORK_DIR", default=str(DATA_DIR / "automl")))
# Seconds between two progress / heartbeat writes of a running job.
AUTOML_HEARTBEAT_INTERVAL = env.float("AUTOML_HEARTBEAT_INTERVAL", default=1.0)
# A running job whose heartbeat is older than this lost its worker: it is requeued (up to
# AUTOML_MAX_REQUEUES times) or failed by the periodic check.
AUTOML_HEARTBEAT_TIMEOUT = env.int("AUTOML_HEARTBEAT_TIMEOUT", default=300)
AUTOML_MAX_REQUEUES = env.int("AUTOML_MAX_REQUEUES", default=1)
# Seconds a job may spend beyond its time budget (loading data, scoring, archiving, MLflow) before it is stopped.
AUTOML_TIME_LIMIT_MARGIN = env.int("AUTOML_TIME_LIMIT_MARGIN", default=600)
# Keep only the best model (and what it needs) in the stored predictor; the leaderboard keeps every model.
AUTOML_KEEP_ONLY_BEST_MODEL = env.bool("AUTOML_KEEP_ONLY_BEST_MODEL", default=True)
# Each training worker process keeps one runner process with AutoGluon imported, so a job starts fitting at once.
AUTOML_WARM_RUNNER = env.bool("AUTOML_WARM_RUNNER", default=True)
# New jobs one user may start (django-ratelimit rate).
RATELIMIT_AUTOML_JOBS = env.str("RATELIMIT_AUTOML_JOBS", default="10/h")
CELERY_BEAT_SCHEDULE["automl-fail-stale-jobs"] = {
    "task": "apps.automl.tasks.reap_stale_training_jobs",
    "schedule": env.float("AUTOML_STALE_CHECK_INTERVAL", default=60.0),
    "options": {"queue": "default"},
}

# ---------------------------------------------------------------------------
# Model registry and prediction serving
# ---------------------------------------------------------------------------
MLFLOW_REGISTRY_URI = env.str("MLFLOW_REGISTRY_URI", default="") or MLFLOW_TRACKING_URI
# Registered models are named "<prefix>-<id>-<name>" in MLflow's registry (shared by every project).
MLFLOW_REGISTRY_NAME_PREFIX = env.str("MLFLOW_REGISTRY_NAME_PREFIX", default=MLFLOW_EXPERIMENT_PREFIX)
# Loaded predictors kept in memory per web/worker process (least recently used ones are dropped).
MODEL_CACHE_SIZE = env.int("MODEL_CACHE_SIZE", default=4)
# Verified predictor archives are extracted here, one folder per archive SHA-256, shared by the host's processes
# and bounded: past this many folders or bytes, the least recently used ones not in use are removed (one used
# within MODEL_CACHE_DIR_MIN_IDLE seconds counts as in use: another process may hold its predictor).
MODEL_CACHE_DIR = Path(env.str("MODEL_CACHE_DIR", default=str(DATA_DIR / "model-cache")))
MODEL_CACHE_DIR_MAX_ENTRIES = env.int("MODEL_CACHE_DIR_MAX_ENTRIES", default=20)
MODEL_CACHE_DIR_MAX_BYTES = env.int("MODEL_CACHE_DIR_MAX_BYTES", default=5 * 1024**3)
MODEL_CACHE_DIR_MIN_IDLE = env.int("MODEL_CACHE_DIR_MIN_IDLE", default=900)
# Rows one online prediction call may send; more go through batch predictions.
PREDICT_MAX_ROWS = env.int("PREDICT_MAX_ROWS", default=1000)
# Online prediction calls per user (its own limit, instead of RATELIMIT_API).
RATELIMIT_PREDICT = env.str("RATELIMIT_PREDICT", default="6000/m")
# Hard time limit of one batch prediction, in seconds (its soft limit, which fails it cleanly, is 5 minutes
# earlier). A batch still running this long after it started (plus the grace) was killed by the limit or
# lost its worker: the periodic check fails it.
BATCH_PREDICTION_TIME_LIMIT = env.int("BATCH_PREDICTION_TIME_LIMIT", default=3600)
BATCH_PREDICTION_REAP_GRACE = env.int("BATCH_PREDICTION_REAP_GRACE", default=300)
CELERY_BEAT_SCHEDULE["registry-reap-stale-batches"] = {
    "task": "apps.registry.tasks.reap_stale_batch_predictions",
    "schedule": env.float("BATCH_PREDICTION_STALE_CHECK_INTERVAL", default=300.0),
    "options": {"queue": "default"},
}
CELERY_BEAT_SCHEDULE["registry-mlflow-sync-sweep"] = {
    "task": "apps.registry.tasks.sweep_mlflow_sync",
    "schedule": env.float("REGISTRY_MLFLOW_SWEEP_INTERVAL", default=300.0),
    "options": {"queue": "default"},
}
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "ModelVersionStatusEnum": "apps.registry.choices.VersionStatus",
        "MlflowSyncStatusEnum": "apps.registry.choices.SyncStatus",
        "WorkStatusEnum": "apps.core.models.WorkStatus",
    }
)

# ---------------------------------------------------------------------------
# Explanations (SHAP and LIME, on the ``explain`` queue)
# ---------------------------------------------------------------------------
# Rows of training data SHAP integrates masked features over, drawn with the seed and stored.
EXPLAIN_BACKGROUND_SIZE = env.int("EXPLAIN_BACKGROUND_SIZE", default=100)
# Rows of training data a global explanation averages |SHAP| over.
EXPLAIN_GLOBAL_SAMPLE_SIZE = env.int("EXPLAIN_GLOBAL_SAMPLE_SIZE", default=300)
EXPLAIN_SEED = env.int("EXPLAIN_SEED", default=0)
# Exact SHAP up to this many features, Permutation SHAP (additive, budgeted) above.
EXPLAIN_EXACT_MAX_FEATURES = env.int("EXPLAIN_EXACT_MAX_FEATURES", default=12)
# Time budgets (seconds). A global explanation, permutation importance and plots included, fits
# EXPLAIN_GLOBAL_BUDGET_S (a request may ask budget_s up to EXPLAIN_MAX_BUDGET_S): the model is timed on the first
# batch and the explainer, rows, background and evaluations are chosen to fit, or it fails naming the budget it
# needs. A local SHAP explanation gets EXPLAIN_LOCAL_BUDGET_S a row.
EXPLAIN_GLOBAL_BUDGET_S = env.float("EXPLAIN_GLOBAL_BUDGET_S", default=60.0)
EXPLAIN_LOCAL_BUDGET_S = env.float("EXPLAIN_LOCAL_BUDGET_S", default=1.0)
EXPLAIN_MAX_BUDGET_S = env.float("EXPLAIN_MAX_BUDGET_S", default=1200.0)
# Share of a global budget the permutation importance may take, and seconds kept for plots and storing.
EXPLAIN_PERMUTATION_SHARE = env.float("EXPLAIN_PERMUTATION_SHARE", default=0.2)
EXPLAIN_RESERVE_S = env.float("EXPLAIN_RESERVE_S", default=3.0)
# Threads one background explanation explains rows on (0: every core the worker may use).
EXPLAIN_THREADS = env.int("EXPLAIN_THREADS", default=0)
# Worker processes compile shap's code as they start (about 10 s on 2 cores) instead of in a first explanation.
EXPLAIN_WARM_WORKERS = env.bool("EXPLAIN_WARM_WORKERS", default=True)
# Local requests of at most EXPLAIN_SYNC_MAX_ROWS rows whose estimated time fits EXPLAIN_SYNC_BUDGET_S are answered
# in the request (200); others run in the background (202) up to EXPLAIN_MAX_ROWS; more is refused (400).
EXPLAIN_SYNC_MAX_ROWS = env.int("EXPLAIN_SYNC_MAX_ROWS", default=5)
EXPLAIN_SYNC_BUDGET_S = env.float("EXPLAIN_SYNC_BUDGET_S", default=2.0)
EXPLAIN_MAX_ROWS = env.int("EXPLAIN_MAX_ROWS", default=200)
EXPLAIN_LIME_NUM_SAMPLES = env.int("EXPLAIN_LIME_NUM_SAMPLES", default=1000)  # interactive; reports ask 5000
EXPLAIN_LIME_MAX_SAMPLES = env.int("EXPLAIN_LIME_MAX_SAMPLES", default=20000)
# Permutation importance (AutoGluon's feature_importance on the held-out split) beside global SHAP.
EXPLAIN_PERMUTATION_SHUFFLES = env.int("EXPLAIN_PERMUTATION_SHUFFLES", default=5)
# Queue a global explanation for every newly registered version.
EXPLAIN_ON_REGISTRATION = env.bool("EXPLAIN_ON_REGISTRATION", default=True)
EXPLAIN_TASK_TIME_LIMIT = env.int("EXPLAIN_TASK_TIME_LIMIT", default=1800)

# ---------------------------------------------------------------------------
# Governance: approvals, notifications, email, webhooks
# ---------------------------------------------------------------------------
# Where people reach Maestro ML: links in notification emails and webhook payloads start with it.
SITE_URL = env.str("SITE_URL", default="http://localhost:8000")
# Email of notifications goes through Django's backend: the console in the embedded default, SMTP in production
# (EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST and friends).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Maestro ML <maestro@localhost>")
# Whether notifications are also emailed to users who have an address.
GOVERNANCE_EMAIL_NOTIFICATIONS = env.bool("GOVERNANCE_EMAIL_NOTIFICATIONS", default=True)
# Days an open approval request waits for a decision before its reviewers are reminded (a project's policy may
# say otherwise; 0 = never), and how often the reminder check runs (seconds).
GOVERNANCE_REMINDER_DAYS = env.int("GOVERNANCE_REMINDER_DAYS", default=3)
GOVERNANCE_REMINDER_INTERVAL = env.float("GOVERNANCE_REMINDER_INTERVAL", default=3600.0)
# Webhook deliveries: seconds to connect and to wait for an answer (kept within 5-10), whether plain http is
# allowed (never in production), networks (CIDR, comma-separated) deliveries may reach although they are not
# public addresses, a CA bundle for endpoints with an internal CA.
GOVERNANCE_WEBHOOK_TIMEOUT = min(10.0, max(5.0, env.float("GOVERNANCE_WEBHOOK_TIMEOUT", default=8.0)))
GOVERNANCE_WEBHOOK_ALLOW_HTTP = env.bool("GOVERNANCE_WEBHOOK_ALLOW_HTTP", default=False)
GOVERNANCE_WEBHOOK_ALLOWED_NETWORKS = env.list("GOVERNANCE_WEBHOOK_ALLOWED_NETWORKS", default=[])
GOVERNANCE_WEBHOOK_CA_BUNDLE = env.str("GOVERNANCE_WEBHOOK_CA_BUNDLE", default="")
# Attempts per message, and failed attempts in a row after which an endpoint is disabled (an owner re-enables it).
GOVERNANCE_WEBHOOK_MAX_ATTEMPTS = env.int("GOVERNANCE_WEBHOOK_MAX_ATTEMPTS", default=8)
GOVERNANCE_WEBHOOK_MAX_CONSECUTIVE_FAILURES = env.int("GOVERNANCE_WEBHOOK_MAX_CONSECUTIVE_FAILURES", default=5)
# Retry n waits a random time in [0, min(cap, base * 2**(n-1))) seconds.
GOVERNANCE_WEBHOOK_BACKOFF_BASE = env.float("GOVERNANCE_WEBHOOK_BACKOFF_BASE", default=10.0)
GOVERNANCE_WEBHOOK_BACKOFF_CAP = env.float("GOVERNANCE_WEBHOOK_BACKOFF_CAP", default=3600.0)
CELERY_BEAT_SCHEDULE["governance-approval-reminders"] = {
    "task": "apps.governance.tasks.send_approval_reminders",
    "schedule": GOVERNANCE_REMINDER_INTERVAL,
    "options": {"queue": "default"},
}
CELERY_BEAT_SCHEDULE["governance-outbox-sweep"] = {
    "task": "apps.governance.tasks.sweep_governance_outbox",
    "schedule": env.float("GOVERNANCE_OUTBOX_SWEEP_INTERVAL", default=300.0),
    "options": {"queue": "default"},
}
TEMPLATES[0]["OPTIONS"]["context_processors"].append("apps.governance.context_processors.notifications")
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({"ApprovalStateEnum": "apps.governance.choices.ApprovalState"})

# ---------------------------------------------------------------------------
# Backups (manage.py backup / restore, built on django-dbbackup)
# ---------------------------------------------------------------------------
# Where backups go: a local folder or s3://bucket/prefix (use another bucket than the media's).
BACKUP_TARGET = env.str("BACKUP_TARGET", default="") or str(DATA_DIR / "backups")
# Credentials and endpoint of an S3 target (default: the media storage's AWS_* settings).
BACKUP_S3_ENDPOINT_URL = env.str("BACKUP_S3_ENDPOINT_URL", default="") or AWS_S3_ENDPOINT_URL
BACKUP_S3_ACCESS_KEY_ID = env.str("BACKUP_S3_ACCESS_KEY_ID", default="") or AWS_ACCESS_KEY_ID
BACKUP_S3_SECRET_ACCESS_KEY = env.str("BACKUP_S3_SECRET_ACCESS_KEY", default="") or AWS_SECRET_ACCESS_KEY
BACKUP_S3_REGION_NAME = env.str("BACKUP_S3_REGION_NAME", default="") or AWS_S3_REGION_NAME
# MLflow's backend store: its PostgreSQL database when MLflow runs as a server (e.g.
# postgres://mlflow:...@postgres:5432/mlflow); empty = MLFLOW_TRACKING_URI, which must then be a local SQLite store.
BACKUP_MLFLOW_DATABASE_URL = env.str("BACKUP_MLFLOW_DATABASE_URL", default="")
# MLflow's artifact root: a folder or s3://bucket/prefix (the server's --artifacts-destination), and the S3
# endpoint for it (default: MLFLOW_S3_ENDPOINT_URL, else the media storage's).
BACKUP_MLFLOW_ARTIFACT_ROOT = env.str("BACKUP_MLFLOW_ARTIFACT_ROOT", default="") or MLFLOW_ARTIFACT_ROOT
BACKUP_MLFLOW_S3_ENDPOINT_URL = (
    env.str("BACKUP_MLFLOW_S3_ENDPOINT_URL", default="") or env.str("MLFLOW_S3_ENDPOINT_URL", default="")
) or AWS_S3_ENDPOINT_URL
# Retention after each backup: the newest backup of each of the last N days and of the last M ISO weeks.
BACKUP_KEEP_DAILY = env.int("BACKUP_KEEP_DAILY", default=7)
BACKUP_KEEP_WEEKLY = env.int("BACKUP_KEEP_WEEKLY", default=4)
# When celery-beat runs apps.backups.tasks.backup: a crontab "minute hour day-of-month month day-of-week" in UTC,
# or "off" (production settings turn it off unless it is set: a CronJob or the compose service runs backups there).
BACKUP_SCHEDULE = env.str("BACKUP_SCHEDULE", default="") or "30 2 * * *"
# Folder for the parts while they are written or checked (default: the system's temporary folder).
BACKUP_TMP_DIR = env.str("BACKUP_TMP_DIR", default="")
# No step of a backup or restore waits for ever: seconds a part waits for a lock (a SQLite database someone is
# writing, pg_dump's table locks, a connection), and seconds one step may run (pg_dump or pg_restore, reading or
# writing a storage, copying one part to or from the target). Past either the backup fails, naming the part.
BACKUP_LOCK_TIMEOUT = env.float("BACKUP_LOCK_TIMEOUT", default=60.0)
BACKUP_STEP_TIMEOUT = env.float("BACKUP_STEP_TIMEOUT", default=3600.0)
BACKUP_TASK_TIME_LIMIT = env.int("BACKUP_TASK_TIME_LIMIT", default=3 * 3600)
if BACKUP_SCHEDULE != "off":
    from celery.schedules import crontab

    if len(BACKUP_SCHEDULE.split()) != 5:
        raise ValueError(f"BACKUP_SCHEDULE must be five crontab fields or 'off', not {BACKUP_SCHEDULE!r}")
    _minute, _hour, _day, _month, _weekday = BACKUP_SCHEDULE.split()
    CELERY_BEAT_SCHEDULE["backups-daily"] = {
        "task": "apps.backups.tasks.backup",
        "schedule": crontab(minute=_minute, hour=_hour, day_of_month=_day, month_of_year=_month, day_of_week=_weekday),
        "options": {"queue": "default"},
    }

# ---------------------------------------------------------------------------
# Model monitoring: prediction log, reference profiles, drift reports
# ---------------------------------------------------------------------------
# Defaults of a registered model's monitor (each model's own values are in the admin): the share of its
# predictions logged, the days they are kept, the hours of predictions a drift report compares with the
# reference, and the share of drifted features that flags the model.
MONITORING_DEFAULT_SAMPLE_RATE = env.float("MONITORING_DEFAULT_SAMPLE_RATE", default=1.0)
MONITORING_DEFAULT_RETENTION_DAYS = env.int("MONITORING_DEFAULT_RETENTION_DAYS", default=90)
MONITORING_DEFAULT_WINDOW_HOURS = env.int("MONITORING_DEFAULT_WINDOW_HOURS", default=24)
MONITORING_DEFAULT_DRIFT_SHARE = env.float("MONITORING_DEFAULT_DRIFT_SHARE", default=0.5)
# A model is notified when a drift report flags it, then, while every report still flags it, at most once per
# this many days (0: only when it becomes flagged again after a report that did not flag it).
MONITORING_RENOTIFY_DAYS = env.int("MONITORING_RENOTIFY_DAYS", default=7)
# The prediction log's in-process queue (requests waiting to be written; beyond, rows are dropped and counted),
# how often its thread writes, and the rows written per insert. MONITORING_LOG_BACKGROUND=false writes only when
# drained explicitly (tests).
MONITORING_LOG_QUEUE_SIZE = env.int("MONITORING_LOG_QUEUE_SIZE", default=10000)
MONITORING_LOG_FLUSH_SECONDS = env.float("MONITORING_LOG_FLUSH_SECONDS", default=1.0)
MONITORING_LOG_BATCH_ROWS = env.int("MONITORING_LOG_BATCH_ROWS", default=500)
MONITORING_LOG_BACKGROUND = env.bool("MONITORING_LOG_BACKGROUND", default=True)
# Seconds a process trusts what it read of a model's production version and sampling rate.
MONITORING_STATE_TTL = env.float("MONITORING_STATE_TTL", default=5.0)
# Training rows (and held-out predictions) kept in a reference profile for the drift tests; the fewest and most
# logged predictions a drift report reads.
MONITORING_REFERENCE_SAMPLE_ROWS = env.int("MONITORING_REFERENCE_SAMPLE_ROWS", default=5000)
MONITORING_MIN_REPORT_ROWS = env.int("MONITORING_MIN_REPORT_ROWS", default=30)
MONITORING_MAX_REPORT_ROWS = env.int("MONITORING_MAX_REPORT_ROWS", default=50000)
CELERY_BEAT_SCHEDULE["monitoring-drift-reports"] = {
    "task": "apps.monitoring.tasks.schedule_drift_reports",
    "schedule": env.float("MONITORING_SCHEDULE_INTERVAL", default=600.0),
    "options": {"queue": "default"},
}
CELERY_BEAT_SCHEDULE["monitoring-purge-prediction-log"] = {
    "task": "apps.monitoring.tasks.purge_prediction_log",
    "schedule": env.float("MONITORING_PURGE_INTERVAL", default=3600.0),
    "options": {"queue": "default"},
}

# ---------------------------------------------------------------------------
# Accounts and security: rate limits, client address, registration
# ---------------------------------------------------------------------------
# django-ratelimit rates ("<count>/<period>", period s/m/h/d), counted in the default cache (local
# memory in the embedded default, Redis in production). Read on every request, so tests may lower them.
RATELIMIT_LOGIN = env.str("RATELIMIT_LOGIN", default="5/m")  # sign-in attempts per IP and per user name
RATELIMIT_REGISTER = env.str("RATELIMIT_REGISTER", default="20/h")  # sign-ups per IP
RATELIMIT_API = env.str("RATELIMIT_API", default="100/m")  # API requests per user (per IP when anonymous)
# RATELIMIT_AUTOML_JOBS (job creations per user) is set in the AutoML section.
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_USE_CACHE = "default"
RATELIMIT_IP_META_KEY = "apps.core.clientip.ratelimit_ip"
# The request.META key holding the client's address: REMOTE_ADDR, or e.g. HTTP_X_REAL_IP behind a proxy that sets it
# (docker-compose.yml and deploy/k8s/configmap.yaml do). With HTTP_X_FORWARDED_FOR, the client is the entry
# CLIENT_IP_TRUSTED_PROXIES from the right: the one the outermost of your proxies appended (apps.core.clientip).
CLIENT_IP_HEADER = env.str("DJANGO_CLIENT_IP_HEADER", default="REMOTE_ADDR")
CLIENT_IP_TRUSTED_PROXIES = env.int("DJANGO_CLIENT_IP_TRUSTED_PROXIES", default=1)
# Production sets this: a local-memory rate-limit cache is then a system-check error (see apps.core.checks).
RATELIMIT_REQUIRE_SHARED_CACHE = False
# Whether anyone may sign up through POST /api/v1/auth/register (new accounts are viewers). On in the embedded
# default; production settings close it unless the operator opens it.
ACCOUNTS_OPEN_REGISTRATION = env.bool("ACCOUNTS_OPEN_REGISTRATION", default=True)
# manage.py check_secrets: whether S3 and Grafana secrets are required (production settings say yes).
SECRETS_DEPLOYMENT = False

# ---------------------------------------------------------------------------
# Performance: adaptive batching of online predictions (apps.registry.batching)
# ---------------------------------------------------------------------------
# Concurrent prediction requests of one version in one web process (gunicorn threads) are answered by one
# model call over at most PREDICT_BATCH_MAX_ROWS rows (0 turns batching off). Once requests were seen
# together, a call waits up to PREDICT_BATCH_MAX_WAIT_MS for more rows; a request not answered within
# PREDICT_BATCH_TIMEOUT seconds gets 503, and a call stuck that long no longer holds the version.
PREDICT_BATCH_MAX_ROWS = env.int("PREDICT_BATCH_MAX_ROWS", default=32)
PREDICT_BATCH_MAX_WAIT_MS = env.float("PREDICT_BATCH_MAX_WAIT_MS", default=2.0)
PREDICT_BATCH_TIMEOUT = env.float("PREDICT_BATCH_TIMEOUT", default=30.0)
