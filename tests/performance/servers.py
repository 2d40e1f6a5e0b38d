"""Starting, awaiting and stopping the server processes the benchmarks load (gunicorn, MLflow's server)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start(command: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    """``command`` from the project's folder, its output appended to ``log_path``."""
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until something listens on ``port`` of 127.0.0.1; raises if ``process`` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(map(str, process.args[:4]))} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 30 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
