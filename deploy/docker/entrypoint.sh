#!/bin/sh
# Entrypoint of the Maestro ML image.
#   web [gunicorn options]   (the default) gunicorn serving config.wsgi on :8000
#   anything else            run as given: celery ..., python manage.py ..., mlflow server ...
set -eu

if [ "$#" -eq 0 ] || [ "$1" = "web" ]; then
    [ "$#" -gt 0 ] && shift
    # docker-compose.yml mounts a volume here that nginx serves /static/ from: refresh it with this
    # image's files (hashed names: old and new versions live side by side during an upgrade).
    if [ -d /srv/static ] && [ -w /srv/static ]; then
        cp -R /app/staticfiles/. /srv/static/
    fi
    exec gunicorn config.wsgi:application --config /app/deploy/docker/gunicorn.conf.py "$@"
fi

exec "$@"
