"""Settings for ``collectstatic`` while the Docker image is built, and for nothing else.

The embedded defaults (no server is reached) with production's static files storage, so that
collectstatic writes the compressed files and the hashed-name manifest that production serves.
"""

from config.settings.local import *  # noqa: F403
from config.settings.local import STORAGES

DEBUG = False
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
