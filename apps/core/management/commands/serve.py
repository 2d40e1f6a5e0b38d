"""Start the web server and one Celery worker (with beat) in the foreground; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run Maestro ML: gunicorn on 127.0.0.1:PORT and a Celery worker consuming every queue."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--worker-concurrency", type=int, default=2)

    def handle(self, *args, **options):
        host, port = options["host"], options["port"]
        python = sys.executable
        (settings.DATA_DIR / "celery").mkdir(parents=True, exist_ok=True)
        web = [
            python, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"{host}:{port}",
            "--workers", str(options["web_workers"]),
            "--threads", "4",
            "--timeout", "120",
            "--access-logfile", "-",
        ]  # fmt: skip
        worker = [
            python, "-m", "celery", "-A", "config", "worker",
            "--queues", "training,explain,default",
            "--concurrency", str(options["worker_concurrency"]),
            "--beat", "--schedule", str(settings.DATA_DIR / "celery" / "beat-schedule"),
            "--loglevel", "INFO",
        ]  # fmt: skip
        base = f"http://{host}:{port}"
        debug = "on (DJANGO_DEBUG)" if settings.DEBUG else "off (DJANGO_DEBUG=true turns debug pages on)"
        self.stdout.write(
            f"\nMaestro ML is starting, debug {debug}:\n"
            f"  pages      {base}/\n"
            f"  admin      {base}/admin/\n"
            f"  API docs   {base}/api/v1/docs/\n"
            f"  readiness  {base}/health/ready\n"
            "Press Ctrl-C to stop the web server and the worker.\n"
        )
        processes = [subprocess.Popen(web), subprocess.Popen(worker)]  # noqa: S603

        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
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
