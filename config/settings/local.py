"""The embedded default: one machine, no servers (SQLite, filesystem broker, local files and MLflow)."""

from .base import *  # noqa: F403
from .base import env, logging_config

# Debug pages only when asked for (DJANGO_DEBUG=true): they list every URL pattern and setting to anyone.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="maestro-local-development-key-never-use-in-production")

# Serve static files straight from the app folders through WhiteNoise, debug or not: no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Readable log lines in a terminal (LOG_FORMAT=json for the production format).
LOG_FORMAT = env.str("LOG_FORMAT", default="console")
LOGGING = logging_config(LOG_FORMAT, env.str("LOG_LEVEL", default="INFO"))
