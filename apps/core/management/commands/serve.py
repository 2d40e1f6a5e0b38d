"""Start the web server and one Celery worker (with beat) in the foreground; Ctrl-C stops both.

The web server is gunicorn with production's own settings (``deploy/docker/gunicorn.conf.py``: workers, threads,
timeouts, keep-alive, multiprocess metrics), bound to HOST:PORT; its multiprocess metrics and control socket live
under DATA_DIR. The addresses are printed once the web server answers (each of its processes has loaded the views
and the first pages' templates) and the worker has run a task, so the first page opened is not the one that waits.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

GUNICORN_CONF = Path(settings.BASE_DIR) / "deploy" / "docker" / "gunicorn.conf.py"
READY_TIMEOUT = 180.0


def web_command(*, host: str, port: int, workers: int) -> list[str]:
    """gunicorn as in production, on this address; nothing stands in front of it, so only loopback may set the
    X-Forwarded-* headers (production's config trusts its proxy)."""
    return [
        sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
        "--bind", f"{host}:{port}",
        "--workers", str(workers),
        "--forwarded-allow-ips", "127.0.0.1,::1",
        "config.wsgi:application",
    ]  # fmt: skip


def booted_dir() -> Path:
    return settings.DATA_DIR / "gunicorn-booted"


def web_environment() -> dict[str, str]:
    return {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": os.environ.get("PROMETHEUS_MULTIPROC_DIR") or str(settings.DATA_DIR / "prometheus"),
        "GUNICORN_CONTROL_SOCKET": os.environ.get("GUNICORN_CONTROL_SOCKET") or str(settings.DATA_DIR / "gunicorn.ctl"),
        "GUNICORN_BOOTED_DIR": str(booted_dir()),
    }


def wait_for_web(url: str, workers: int, processes: list[subprocess.Popen], deadline: float, stopping) -> bool:
    """Every gunicorn worker has loaded the application (the config's post_worker_init) and one answers ``url``."""
    while time.monotonic() < deadline and not stopping():
        if any(process.poll() is not None for process in processes):
            return False
        booted = len(list(booted_dir().iterdir())) if booted_dir().is_dir() else 0
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310  # nosec B310  # our own http address
                if response.status == 200 and booted >= workers:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def wait_for_worker(deadline: float, stopping) -> bool:
    """A task through the broker, answered by the worker: it has started and consumes."""
    from config.celery import app

    try:
        result = app.send_task("apps.core.tasks.ping", args=["ready"])
        while time.monotonic() < deadline and not stopping():
            if result.ready():
                return result.get(timeout=5) == "ready"
            time.sleep(0.2)
    except Exception:  # noqa: BLE001 - the broker refused: the addresses are printed all the same
        return False
    return False


class Command(BaseCommand):
    help = "Run Maestro ML: gunicorn on 127.0.0.1:PORT and a Celery worker consuming every queue."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
        parser.add_argument("--worker-concurrency", type=int, default=2)

    def handle(self, *args, **options):
        host, port = options["host"], options["port"]
        (settings.DATA_DIR / "celery").mkdir(parents=True, exist_ok=True)
        shutil.rmtree(booted_dir(), ignore_errors=True)  # what a server that stopped before left
        worker = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--queues", "training,explain,default",
            "--concurrency", str(options["worker_concurrency"]),
            "--beat", "--schedule", str(settings.DATA_DIR / "celery" / "beat-schedule"),
            "--loglevel", "INFO",
        ]  # fmt: skip
        base = f"http://{host}:{port}"
        local = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"  # noqa: S104  # nosec B104  # a comparison
        self.stdout.write("Maestro ML is starting the web server and the worker...\n")
        self.stdout.flush()
        processes = [
            subprocess.Popen(web_command(host=host, port=port, workers=options["web_workers"]), env=web_environment()),  # noqa: S603
            subprocess.Popen(worker),  # noqa: S603
        ]

        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        deadline = time.monotonic() + READY_TIMEOUT
        if wait_for_web(f"{local}/health/live", options["web_workers"], processes, deadline, lambda: stopping):
            if not wait_for_worker(deadline, lambda: stopping) and not stopping:
                self.stderr.write("The worker has not answered yet; background work starts once it does.")
            debug = "on (DJANGO_DEBUG)" if settings.DEBUG else "off (DJANGO_DEBUG=true turns debug pages on)"
            self.stdout.write(
                f"\nMaestro ML is running, debug {debug}:\n"
                f"  pages      {base}/\n"
                f"  admin      {base}/admin/\n"
                f"  API docs   {base}/api/v1/docs/\n"
                f"  readiness  {base}/health/ready\n"
                "Press Ctrl-C to stop the web server and the worker.\n"
            )
            self.stdout.flush()
        exit_code = 0
        while not stopping:
            for process in processes:
                if process.poll() is not None:
                    self.stderr.write(f"{process.args[2]} exited with {process.returncode}; stopping.")
                    exit_code = process.returncode or 1
                    stopping = True
            time.sleep(0.5)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        sys.exit(exit_code)
