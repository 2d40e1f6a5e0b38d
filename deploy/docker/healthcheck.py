"""Health checks of the Maestro ML containers (Dockerfile HEALTHCHECK, docker-compose.yml, deploy/k8s/).

    healthcheck.py web [PATH]     GET http://127.0.0.1:8000PATH (default /health) answers 200
    healthcheck.py url URL        GET URL answers 200 (the MLflow server: http://127.0.0.1:5000/health)
    healthcheck.py worker NODE    the Celery worker NODE (e.g. training@$HOSTNAME) answers a ping
    healthcheck.py beat           the pid in celery beat's pid file is alive and the broker answers

Exit status 0 when healthy, 1 otherwise, with the reason on stderr.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT = float(os.environ.get("HEALTHCHECK_TIMEOUT", "8"))
# Where the beat command of docker-compose.yml and deploy/k8s/beat.yaml writes it (the container's /tmp).
BEAT_PIDFILE = Path(os.environ.get("CELERY_BEAT_PIDFILE", "/tmp/celerybeat.pid"))  # noqa: S108
# The web container's Host header: DJANGO_ALLOWED_HOSTS must list it (docker-compose.yml and the
# Kubernetes config map do).
WEB_HOST = "localhost"


def check_url(url: str, host: str | None = None) -> str | None:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})  # noqa: S310 - fixed scheme
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except OSError as exc:
        return f"{url} is unreachable: {exc}"
    return None if status == 200 else f"{url} answered {status}"


def check_worker(node: str) -> str | None:
    from config.celery import app

    replies = app.control.ping(destination=[node], timeout=TIMEOUT)
    if not any(node in reply for reply in replies):
        return f"Celery worker {node} did not answer a ping within {TIMEOUT:g} s"
    return None


def check_beat() -> str | None:
    try:
        pid = int(BEAT_PIDFILE.read_text().strip())
    except (OSError, ValueError) as exc:
        return f"no readable celery beat pid file at {BEAT_PIDFILE}: {exc}"
    try:
        os.kill(pid, 0)
    except OSError:
        return f"celery beat (pid {pid}) is not running"
    from config.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=TIMEOUT)
    return None


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write(__doc__)
        return 2
    mode, args = argv[0], argv[1:]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    try:
        if mode == "web":
            problem = check_url(f"http://127.0.0.1:8000{args[0] if args else '/health'}", host=WEB_HOST)
        elif mode == "url" and len(args) == 1:
            problem = check_url(args[0])
        elif mode == "worker" and len(args) == 1:
            problem = check_worker(args[0])
        elif mode == "beat" and not args:
            problem = check_beat()
        else:
            sys.stderr.write(__doc__)
            return 2
    except Exception as exc:  # noqa: BLE001 - any failure to check is unhealthy
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        sys.stderr.write(f"unhealthy: {problem}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
