"""What `make run` starts (migrate, then web + worker) on the embedded default: gunicorn with production's settings
(multiprocess metrics under DATA_DIR), the addresses printed once everything is warm, a first page served at once."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ping_through_embedded_broker(data_dir: Path, monkeypatch) -> str:
    from celery import Celery

    results = data_dir / "celery" / "results"
    monkeypatch.setenv("CELERY_BROKER_URL", "filesystem://")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", f"file://{results}")
    app = Celery("maestro-smoke-client")
    broker = data_dir / "celery" / "broker"
    app.conf.update(
        broker_url="filesystem://",
        result_backend=f"file://{results}",
        broker_transport_options={
            "data_folder_in": str(broker / "out"),
            "data_folder_out": str(broker / "out"),
            "processed_folder": str(broker / "processed"),
            "control_folder": str(broker / "control"),
        },
        task_default_queue="default",
    )
    return app.send_task("apps.core.tasks.ping", args=["stack"]).get(timeout=90)


def post_as_over_a_network(port: int, path: str, body: bytes) -> tuple[bool, int, dict]:
    """A raw HTTP/1.1 POST of ``body`` in 256 KiB pieces with short pauses, as a client on a real network sends
    it; answers whether all of it could be sent, the status and the JSON answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        sock.sendall(f"{head}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        sent_all = True
        try:
            for start in range(0, len(body), 256 * 1024):
                sock.sendall(body[start : start + 256 * 1024])
                time.sleep(0.002)
        except OSError:  # reset or broken pipe: the server closed the connection under the client
            sent_all = False
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    return sent_all, int(head.split()[1]), json.loads(payload or b"{}")


def test_embedded_stack_serves_ready_and_stops_on_ctrl_c(tmp_path, monkeypatch):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "CELERY_", "CACHE_URL", "MLFLOW_", "STORAGE_"))
    }
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.local", "DATA_DIR": str(tmp_path)})
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    bootstrap = subprocess.run(
        [sys.executable, "manage.py", "bootstrap_admin"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    assert "Created superuser 'admin' with password:" in bootstrap.stdout
    again = subprocess.run(
        [sys.executable, "manage.py", "bootstrap_admin"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    assert "nothing created" in again.stdout

    port = free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--web-workers", "1", "--worker-concurrency", "1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        # The addresses are printed once the web server answers, every worker warm, and the worker took a task.
        deadline = time.monotonic() + 240
        while "API docs" not in (tmp_path / "serve.log").read_text() and time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.2)
        assert "API docs" in (tmp_path / "serve.log").read_text(), (tmp_path / "serve.log").read_text()[-3000:]
        started = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=30) as response:
            assert response.status == 200
        first_page = time.monotonic() - started
        assert first_page < 2.0, f"the first page took {first_page:.2f} s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=5) as response:
            assert response.status == 200 and b'"status": "ok"' in response.read()
        # Production's gunicorn settings: every worker's metrics in the multiprocess folder, added up on /metrics.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            metrics = response.read().decode()
        assert list((tmp_path / "prometheus").glob("*.db")), "no multiprocess metrics under DATA_DIR/prometheus"
        assert "maestro_backup_last_success_timestamp_seconds" in metrics and "maestro_model_drift" in metrics
        assert ping_through_embedded_broker(tmp_path, monkeypatch) == "stack"
        # A 24 MB JSON body over the sign-in's limit: refused unread, then read and discarded, so the client sends it
        # all and reads the 413 that names the limit (it used to see the connection reset under it).
        body = json.dumps({"username": "admin", "password": "x" * (24 * 1024 * 1024)}).encode()
        sent_all, status, answer = post_as_over_a_network(port, "/api/v1/auth/login", body)
        assert (sent_all, status) == (True, 413), answer
        assert "1,048,576 bytes" in answer["detail"] and "API_JSON_MAX_BYTES" in answer["detail"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
        log.close()
    assert process.returncode == 0
    output = (tmp_path / "serve.log").read_text()
    assert "/api/v1/docs/" in output
