"""Several processes opening a fresh local MLflow store at once all succeed."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPEN = (
    "import sys; from apps.core.mlflow_store import mlflow_store_ensure_ready; "
    "mlflow_store_ensure_ready(tracking_uri=sys.argv[1]); print('ok')"
)


def test_processes_opening_a_fresh_store_together_all_succeed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    processes = [
        subprocess.Popen([sys.executable, "-c", OPEN, uri], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=180) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], [err[-2000:] for _, err in outputs]
    assert all(out.strip() == b"ok" for out, _ in outputs)
