import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

application = get_wsgi_application()

# Each web process imports its views and compiles the first pages' templates now, before it accepts a request.
from apps.core.warmup import warm  # noqa: E402 - needs the settings get_wsgi_application set up

warm()
