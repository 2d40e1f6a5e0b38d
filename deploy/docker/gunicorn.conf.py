"""Gunicorn settings of the Maestro ML web container (``entrypoint.sh web``) and of ``make run``
(``manage.py serve``, which binds its own address and keeps the multiprocess metrics under DATA_DIR).

Tunable through the environment: WEB_CONCURRENCY (worker processes, default 2), GUNICORN_THREADS
(threads per worker, default 4), GUNICORN_TIMEOUT (seconds a request may take, default 120).
"""

import os
from pathlib import Path

bind = "0.0.0.0:8000"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
# Idle keep-alive connections from nginx stay open longer than nginx keeps them (60 s in
# deploy/nginx/maestro.conf): nginx never sends a request on a connection gunicorn just closed.
keepalive = 75
# Heartbeat files in memory: works with a read-only root filesystem and never stalls on disk.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - the container's own
# gunicorn's control socket defaults to $HOME; /tmp stays writable with a read-only root filesystem. `make run`
# puts it under DATA_DIR (GUNICORN_CONTROL_SOCKET), so two servers on one machine keep their own.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "/tmp/gunicorn.ctl")  # noqa: S108 - the container's /tmp
accesslog = "-"
errorlog = "-"
# Only nginx / the ingress controller reach this port; they set X-Forwarded-Proto.
forwarded_allow_ips = "*"

# Every worker process counts its own requests: prometheus_client's multiprocess mode lets /metrics
# (django-prometheus) add up all of them, whichever worker answers the scrape. Set before the
# workers import Django, emptied when the server starts, and a dead worker's gauges are dropped.
PROMETHEUS_DIR = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "/tmp/maestro-prometheus"))  # noqa: S108


# `make run` (manage.py serve) prints its addresses once every worker has loaded the application: each one leaves
# a file named after its pid in GUNICORN_BOOTED_DIR when set, removed again when it exits.
BOOTED_DIR = os.environ.get("GUNICORN_BOOTED_DIR", "")


def on_starting(server):
    PROMETHEUS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in PROMETHEUS_DIR.glob("*.db"):
        stale.unlink()
    if BOOTED_DIR:
        Path(BOOTED_DIR).mkdir(parents=True, exist_ok=True)
        for stale in Path(BOOTED_DIR).iterdir():
            stale.unlink()


def post_worker_init(worker):
    # A local explanation answered in the request would otherwise spend ten seconds compiling shap's code first.
    from django.conf import settings

    if settings.EXPLAIN_WARM_WORKERS:
        from apps.explain.engine.warm import warm_in_background

        warm_in_background()
    if BOOTED_DIR:
        (Path(BOOTED_DIR) / str(worker.pid)).touch()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
    if BOOTED_DIR:
        (Path(BOOTED_DIR) / str(worker.pid)).unlink(missing_ok=True)
