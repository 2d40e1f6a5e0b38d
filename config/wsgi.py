import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# A body the application refused unread (413) is read and discarded after the answer, up to a bound, so the client
# gets that answer instead of a reset connection (apps.core.wsgi).
from apps.core.wsgi import DrainUnreadBody  # noqa: E402

application = DrainUnreadBody(
    get_wsgi_application(), max_bytes=settings.REQUEST_DRAIN_MAX_BYTES, seconds=settings.REQUEST_DRAIN_SECONDS
)

# Each web process imports its views and compiles the first pages' templates now, before it accepts a request.
from apps.core.warmup import warm  # noqa: E402 - needs the settings get_wsgi_application set up

warm()
